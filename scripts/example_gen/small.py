"""small.yaml: hand-written, small enough to read; the script writes it verbatim and checks it."""

from __future__ import annotations

from gpufleet.planning.scenario import Scenario, TrainingProgram

from .story import (
    capacity,
    finish_period,
    first_period,
    hours_inside,
    inference_programs,
    occupied,
    rental_load,
    throughput,
)

SMALL_YAML = """\
# small.yaml -- a gpufleet scenario small enough to read in a few minutes (format version 1).
# Written by scripts/make_examples.py (verbatim from the script) and checked by it.
#
# A lab with two H100 clusters (one retired in May) and one GB200 NVL72 cluster arriving in
# February. It trains model-v2 (due 2027-06-07) and serves a chat API, and has seven rental
# requests to choose from. Capacity C = floor(0.97 x installed):
#   H100  3,072 installed -> 2,979 (periods 0-16), then 2,048 -> 1,986 (periods 17-25)
#   GB200 2,304 installed -> 2,234 from period 4 (2027-02-01)
# model-v2 needs 15,000,000 H100-hours on GB200 (x2.5): all 2,234 GB200 do 938,280 a week,
# so it needs 16 of the 18 weeks from 2027-02-01 to its due date. rfq-7 alone makes it one
# week late ($2.8M of delay for $4.9M of revenue); rfq-3 alone three weeks late ($8.4M for
# $7.3M); the two cannot both fit. Hopper is oversubscribed too (rfq-1/2, then rfq-5/6).

version: 1
name: small
horizon: {start: 2027-01-04, period: week, periods: 26}   # 2027-01-04 .. 2027-07-05
reliability: {unavailable_fraction: 0.03}

gpu_models:
  - {name: H100, relative_throughput: 1.0}
  - {name: GB200, relative_throughput: 2.5}   # per GPU, in H100-equivalents

clusters:
  # 8-GPU HGX nodes, each its own NVLink block; 32 nodes (256 GPUs) per pod
  - {name: lab-h100-a, gpu_model: H100, gpus_per_node: 8, nodes_per_block: 1,
     blocks_per_pod: 32, pods: 8}                                   # 2,048 GPUs
  - {name: lab-h100-b, gpu_model: H100, gpus_per_node: 8, nodes_per_block: 1,
     blocks_per_pod: 32, pods: 4, offline_from: 2027-05-03}        # 1,024 GPUs, retired
  # NVL72 racks (18 trays x 4 GPUs), 8 racks per pod
  - {name: lab-gb200, gpu_model: GB200, gpus_per_node: 4, nodes_per_block: 18,
     blocks_per_pod: 8, pods: 4, online_from: 2027-02-01}          # 2,304 GPUs

programs:
  - {name: model-v2, kind: training, gpu_models: [GB200], work_gpu_hours: 15000000,
     earliest_start: 2027-02-01, due: 2027-06-07, delay_cost_per_day: 400000}
  - {name: chat-api, kind: inference, gpu_models: [H100], gpus: 1024}

rental_requests:
  - {id: rfq-1, customer: acme-ai, gpu_model: H100, gpus: 1024, start: 2027-02-01,
     end: 2027-05-03, price_per_gpu_hour: 2.40, class: reserved}
  - {id: rfq-2, customer: beta-labs, gpu_model: H100, gpus: 768, start: 2027-01-11,
     end: 2027-03-01, price_per_gpu_hour: 1.40, class: interruptible, notice_hours: 24}
  - {id: rfq-3, customer: acme-ai, gpu_model: GB200, gpus: 1152, start: 2027-03-01,
     end: 2027-05-03, price_per_gpu_hour: 4.20, class: reserved, contiguous: true}
  - {id: rfq-4, customer: gamma-bio, gpu_model: GB200, gpus: 576, start: 2027-06-07,
     end: 2027-12-06, price_per_gpu_hour: 3.90, class: reserved}    # ends past the horizon
  - {id: rfq-5, customer: gamma-bio, gpu_model: H100, gpus: 768, start: 2027-05-03,
     end: 2027-07-05, price_per_gpu_hour: 2.10, class: reserved}
  - {id: rfq-6, customer: beta-labs, gpu_model: H100, gpus: 512, start: 2027-04-05,
     end: 2027-07-05, price_per_gpu_hour: 1.30, class: interruptible, notice_hours: 2}
  - {id: rfq-7, customer: delta-labs, gpu_model: GB200, gpus: 2016, start: 2027-04-05,
     end: 2027-04-26, price_per_gpu_hour: 4.80, class: reserved}    # a three-week burst

leases:
  - {id: lease-1, customer: acme-ai, gpu_model: H100, gpus: 512, start: 2027-01-04,
     end: 2027-04-05, price_per_gpu_hour: 2.20, class: reserved}
"""


def small_report(scn: Scenario) -> list[str]:
    """Capacity, and what rfq-3 or rfq-7 would cost model-v2, computed from the parsed file."""
    hz, rt, cap = scn.horizon, throughput(scn), capacity(scn)
    lease = rental_load(scn, scn.leases)
    req = rental_load(scn, scn.rental_requests)
    train = next(p for p in scn.programs if isinstance(p, TrainingProgram))
    due_t = first_period(hz, train.due) - 1
    first = first_period(hz, train.earliest_start or hz.start)
    m = train.gpu_models[0]
    rate = [cap[m][t] * rt[m] for t in range(hz.periods)]
    f0 = finish_period(train.work_gpu_hours, rate, hz.period_hours, first)
    out = ["", "== small.yaml =="]
    out.append("  capacity H100 " + " ".join(map(str, cap["H100"])))
    out.append("  capacity GB200 " + " ".join(map(str, cap["GB200"])))
    out.append(
        f"  {train.name}: due end of period {due_t}; with all {m} finishes end of period {f0}"
    )
    for rid in ("rfq-3", "rfq-7"):
        r = next(x for x in scn.rental_requests if x.id == rid)
        occ = occupied(hz, r.start, r.end)
        rate1 = [v - (r.gpus * rt[m] if t in occ else 0) for t, v in enumerate(rate)]
        f1 = finish_period(train.work_gpu_hours, rate1, hz.period_hours, first)
        rev = r.gpus * hours_inside(hz, r.start, r.end) * float(r.price_per_gpu_hour)
        days = hz.period_length.days
        late = "unfinished" if f1 is None else f"{max(0, f1 - due_t) * days} days late"
        out.append(
            f"  accepting {rid} alone: revenue ${rev:,.0f}; {train.name} finishes period {f1} "
            f"({late})"
        )
    chat = next(p for p in inference_programs(scn) if p.name == "chat-api")
    h_free = [cap["H100"][t] - lease["H100"][t] - chat.gpus_in(t) for t in range(hz.periods)]
    out.append("  H100 free after lease + chat-api: " + " ".join(map(str, h_free)))
    out.append("  H100 requested:                   " + " ".join(map(str, req["H100"])))
    return out
