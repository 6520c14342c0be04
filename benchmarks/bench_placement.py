"""Placement at a million GPUs: a stream of lease and job arrivals, departures and failures.

Fleet: GB200 NVL72 racks (18 nodes × 4 GPUs per NVLink block, 64 racks per pod) and H100 HGX
nodes (8 GPUs, 512 per pod), about 1,000,000 GPUs, 2% spares per pod. Before the measured
stream, long leases fill about 70% of each model (warm-up, timed apart). Then N events (default
100,000) over a simulated week, in time order:

- ~78%: experiment arrivals (80% H100, 20% GB200), sizes (1-128 GPUs) and durations from
  the Philly trace as `gpufleet.operations.experiment_trace()` finds it: $GPUFLEET_PHILLY_TRACE,
  else ../shared/data/philly.csv (Microsoft Philly traces, Jeon et al., USENIX ATC '19,
  CC-BY-4.0, via petuum/adaptdl), else the one-day excerpt the package ships (1-8 GPUs);
  the JSON names the one used (`experiments_from`);
- ~12%: external lease arrivals of mixed sizes (8-2,048 H100, 4-1,152 GB200; a third
  contiguous, a sixth interruptible with 1-24 h notice, a tenth booked 1-3 days ahead);
- ~1%: gang-scheduled training jobs (contiguous, 8-62 racks of GB200);
- ~4%: early departures of random live holds;
- ~6%: node failures at the Llama 3 rate (419 interruptions in 54 days on 16,384 GPUs) and
  their repairs 1-3 days later.

Decisions per second are given three ways: all arrivals over the wall time (and the CPU
time, less disturbed by other processes) of the whole stream, advance, departures and
failures included; the same over the slowest window of 10,000 events ("sustained"; a fifth
of the stream if shorter); and inside `place()` alone.
Failure handling is timed per `fail_node` call, also over only the failures that hit a hold;
CPython's full garbage collections (which scan every live hold) land inside random events
and are reported apart.

Targets (issue 4): ≥ 5,000 placement decisions/s sustained, replacement after a failure
p99 ≤ 5 ms, peak memory ≤ 2 GiB. Prints JSON.

With --simulate DAYS, the same warmed-up fleet is then run by the operations simulator
(`gpufleet.operations.Simulator`) for DAYS: the Philly trace replayed --copies times as the
lab's lowest-priority stream, failures at the Llama 3 rate with lognormal repairs; it reports
the simulator's own throughput, utilisation (busy / online GPU-hours) and fragmentation
(experiments refused while enough GPUs were free in total).
Usage: python -m benchmarks.bench_placement [--events N] [--seed S] [--scale F]
       [--simulate DAYS --copies K]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from benchmarks.common import machine, percentiles
from gpufleet.domain.fleet import NodeState
from gpufleet.operations import (
    ExperimentSettings,
    ExperimentStream,
    Reliability,
    Simulator,
    experiment_trace,
)
from gpufleet.placement import (
    HOUR,
    HoldKind,
    Placement,
    Placer,
    Refusal,
    RefusalReason,
    Request,
    Topology,
    fail_node,
    set_node_state,
)
from gpufleet.planning.scenario.model import Cluster

DAY = 24 * HOUR
SPAN = 7 * DAY
T0 = 1_800_000_000  # 2027-01-15
LLAMA3_PER_GPU_SECOND = 419 / (54 * DAY * 16_384)
H100_LEASES = ([8, 16, 32, 64, 128, 256, 512, 1024, 2048], [25, 15, 15, 15, 10, 8, 6, 4, 2])
GB200_LEASES = ([4, 8, 36, 72, 100, 144, 288, 576, 1152], [10, 10, 15, 20, 5, 15, 12, 8, 5])


@dataclass(frozen=True)
class Event:
    at: int
    kind: str  # arrive | depart | fail | repair
    request: Request | None = None
    pick: int = 0  # which live hold departs, which node fails


def fleet(scale: float) -> list[Cluster]:
    return [
        Cluster(name="gb200", gpu_model="GB200", gpus_per_node=4, nodes_per_block=18,
                blocks_per_pod=64, pods=max(1, round(109 * scale))),
        Cluster(name="h100", gpu_model="H100", gpus_per_node=8, nodes_per_block=1,
                blocks_per_pod=512, pods=max(1, round(122 * scale))),
    ]  # fmt: skip


def experiments() -> tuple[list[tuple[int, int]], str]:
    """(GPUs, seconds) of experiment jobs, and where they come from."""
    trace = experiment_trace()
    return [(j.gpus, max(60, j.duration)) for j in trace.jobs], trace.label


def stream(topo: Topology, events: int, rng: random.Random) -> tuple[list[Event], str]:
    jobs, source = experiments()
    out: list[Event] = []
    mean = LLAMA3_PER_GPU_SECOND * topo.gpus * SPAN
    failures = min(int(np.random.default_rng(rng.randrange(2**32)).poisson(mean)), events // 8)
    for _ in range(failures):
        at, node = T0 + rng.randrange(SPAN), rng.randrange(topo.nodes)
        out.append(Event(at, "fail", pick=node))
        out.append(Event(at + rng.randrange(DAY, 3 * DAY), "repair", pick=node))
    out = [e for e in out if e.at < T0 + SPAN]
    rest = events - len(out)
    departures, trainings, leases = rest // 25, rest // 100, rest // 8
    out += [Event(T0 + rng.randrange(SPAN), "depart", pick=rng.randrange(2**31))
            for _ in range(departures)]  # fmt: skip
    for i in range(rest - departures):
        at = T0 + rng.randrange(SPAN)
        if i < trainings:
            length = rng.randrange(2 * DAY, 10 * DAY)
            gpus = 72 * rng.randint(8, 62)
            request = Request.training(f"train-{i}", "GB200", gpus, at, at + length)
        elif i < trainings + leases:
            request = lease(f"lease-{i}", at, rng)
        else:
            gpus, seconds = rng.choice(jobs)
            model = "H100" if rng.random() < 0.8 else "GB200"
            request = Request.experiment(f"exp-{i}", model, gpus, at, at + seconds)
        out.append(Event(at, "arrive", request=request))
    out.sort(key=lambda e: e.at)
    return out, source


def lease(holder: str, at: int, rng: random.Random) -> Request:
    model = rng.choice(["H100", "GB200"])
    sizes, weights = H100_LEASES if model == "H100" else GB200_LEASES
    start = at + (rng.randrange(DAY, 3 * DAY) if rng.random() < 0.1 else 0)
    end = start + rng.randrange(6 * HOUR, 4 * DAY)
    spot = rng.random() < 1 / 6
    gpus = rng.choices(sizes, weights)[0]
    return Request(holder, rng.randint(1, 500), HoldKind.LEASE, model, gpus, start, end,
                   interruptible=spot, notice_hours=rng.randint(1, 24) if spot else 0,
                   contiguous=rng.random() < 1 / 3)  # fmt: skip


def warm_up(placer: Placer, rng: random.Random) -> tuple[int, float]:
    """Long leases until ~70% of each model is held; returns (placements, seconds)."""
    placed, began = 0, time.perf_counter()
    for span in placer.topology.models:
        held, i = 0, 0
        while held < 0.7 * span.gpus and i < 200_000:
            r = lease(f"warm-{span.name}-{i}", T0, rng)
            r = Request(r.holder, r.tenant, r.kind, span.name, r.gpus * 4, T0,
                        T0 + rng.randrange(DAY, 14 * DAY), contiguous=r.contiguous)  # fmt: skip
            i += 1
            if isinstance(placer.place(r), Placement):
                held += r.gpus
                placed += 1
    return placed, time.perf_counter() - began


def run(placer: Placer, events: list[Event]) -> dict[str, object]:
    arrivals: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    refused_kinds: Counter[str] = Counter()
    fail_ms: list[float] = []
    fail_with_holds_ms: list[float] = []
    sources: Counter[str] = Counter()
    notices = shortfalls = 0
    short_gpu_hours = 0.0
    live: list[str] = []
    place_s = 0.0
    windows: list[float] = []
    window = min(10_000, max(1, len(events) // 5))
    window_began, window_decisions = time.perf_counter(), 0
    began, cpu_began = time.perf_counter(), time.process_time()
    for n, event in enumerate(events, 1):
        placer.advance(event.at)
        if event.request is not None:
            t = time.perf_counter()
            result = placer.place(event.request)
            place_s += time.perf_counter() - t
            window_decisions += 1
            arrivals[event.request.kind] += 1
            if isinstance(result, Refusal):
                refusals[result.reason] += 1
                refused_kinds[event.request.kind] += 1
            else:
                live.append(result.holder)
        elif event.kind == "depart" and live:
            holder = live.pop(event.pick % len(live))
            if placer.hold(holder).end > event.at:
                placer.release(holder, event.at)
        elif event.kind == "fail":
            t = time.perf_counter()
            outcome = fail_node(placer, event.pick, event.at)
            took = (time.perf_counter() - t) * 1000
            fail_ms.append(took)
            if outcome.replaced or outcome.shortfalls:
                fail_with_holds_ms.append(took)
            sources.update(r.source.value for r in outcome.replaced)
            notices += len(outcome.notices)
            shortfalls += len(outcome.shortfalls)
            short_gpu_hours += sum(s.gpu_hours for s in outcome.shortfalls)
        elif event.kind == "repair":
            set_node_state(placer, event.pick, NodeState.UP, event.at)
        if n % window == 0:
            now = time.perf_counter()
            windows.append(window_decisions / (now - window_began))
            window_began, window_decisions = now, 0
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    decisions = sum(arrivals.values())
    enough_free = refusals[RefusalReason.FRAGMENTED] + refusals[RefusalReason.NO_CONTIGUOUS_POD]
    return {
        "events": len(events),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "events_per_s": round(len(events) / wall),
        "decisions": decisions,
        "decisions_by_kind": {str(k): v for k, v in arrivals.items()},
        "decisions_per_s": {
            "all_events_wall": round(decisions / wall),
            "all_events_cpu": round(decisions / cpu),
            "inside_place_only": round(decisions / place_s),
            "sustained_slowest_window": round(min(windows or [0.0])),
            "window_events": window,
        },
        "refused": {str(k): v for k, v in refusals.items()},
        "refused_by_kind": {str(k): v for k, v in refused_kinds.items()},
        "fragmentation": {
            "refused_while_enough_gpus_free": enough_free,
            "share_of_decisions": round(enough_free / max(1, decisions), 4),
        },
        "exact_views": placer.exact_views,
        "failures": {
            "count": len(fail_ms),
            "with_holds": len(fail_with_holds_ms),
            "handling_all": percentiles(fail_ms) if fail_ms else {},
            "handling_with_holds": percentiles(fail_with_holds_ms) if fail_with_holds_ms else {},
            "replacements": dict(sources),
            "preemption_notices": notices,
            "shortfalls": shortfalls,
            "shortfall_gpu_hours": round(short_gpu_hours, 1),
        },
    }


def utilisation(placer: Placer, lo: int, hi: int) -> float:
    held = 0
    for holder in placer.holders():
        for a in placer.assignments(holder):
            overlap = min(a.end, hi) - max(a.start, lo)
            if overlap > 0:
                held += a.gpu_mask.bit_count() * overlap
    return held / (placer.topology.gpus * (hi - lo))


class GcPauses:
    """Times CPython's cyclic garbage collections (full ones scan every live hold)."""

    def __init__(self) -> None:
        self.began = 0.0
        self.pauses: list[tuple[int, float]] = []
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self.began) * 1000))

    def report(self) -> dict[str, float]:
        full = [ms for generation, ms in self.pauses if generation == 2]
        return {
            "collections": len(self.pauses),
            "full_collections": len(full),
            "full_max_ms": round(max(full, default=0.0), 1),
            "total_s": round(sum(ms for _, ms in self.pauses) / 1000, 2),
        }


def simulate(placer: Placer, days: float, copies: int, seed: int) -> dict[str, object]:
    """The operations simulator on the engine as the stream left it, for `days`."""
    start = placer.clock
    trace = experiment_trace()
    stream = ExperimentStream(trace.jobs, start, copies=copies, seed=seed, period=trace.period)
    sim = Simulator(placer, seed=seed, reliability=Reliability(),
                    experiments=ExperimentSettings(stream, "H100"))  # fmt: skip
    began, cpu = time.perf_counter(), time.process_time()
    chunk = sim.run(start + int(days * DAY))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    t = sim.totals
    decisions = t.experiments_placed + t.experiments_refused + t.failures
    return {
        "days": days,
        "experiment_copies": copies,
        "experiments_from": trace.label,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "decisions_per_s": {"wall": round(decisions / wall), "cpu": round(decisions / cpu)},
        "events_told": len(chunk.events),
        "totals": t.to_dict(),
        "utilisation": round(t.utilisation, 4),
        "fragmentation": {
            "experiments_refused": t.experiments_refused,
            "refused_while_enough_gpus_free": t.experiments_refused_fragmented,
            "share_of_refusals": round(t.fragmentation, 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="fleet size, 1.0 = 1M GPUs")
    parser.add_argument("--simulate", type=float, default=0.0, help="days of simulation after")
    parser.add_argument("--copies", type=int, default=20, help="Philly copies when simulating")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    built = time.perf_counter()
    topo = Topology(fleet(args.scale))
    placer = Placer(topo, spare_share=0.02, clock=T0)
    build_s = time.perf_counter() - built
    events, source = stream(topo, args.events, rng)
    warm, warm_s = warm_up(placer, rng)
    pauses = GcPauses()
    result = run(placer, events)
    simulated = simulate(placer, args.simulate, args.copies, args.seed) if args.simulate else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rates = result["decisions_per_s"]
    failures = result["failures"]
    assert isinstance(rates, dict)
    assert isinstance(failures, dict)
    p99 = failures["handling_with_holds"].get("p99_ms", 0.0)
    json.dump({
        "benchmark": "placement: 1M-GPU fleet, mixed arrivals, departures, failures",
        "fleet": {"gpus": topo.gpus, "nodes": topo.nodes, "blocks": topo.blocks,
                  "pods": topo.pods, "spare_share": 0.02, "build_s": round(build_s, 3)},
        "experiments_from": source,
        "warm_up": {"placements": warm, "seconds": round(warm_s, 2)},
        **result,
        "utilisation_over_stream": round(utilisation(placer, T0, T0 + SPAN), 4),
        "gc_pauses_during_stream": pauses.report(),
        "simulation_after_stream": simulated,
        "memory": {"peak_rss_mib": round(rss / 2**20, 1),
                   "rss_before_fleet_mib": round(rss_before / 2**20, 1),
                   "holds_kept": sum(1 for _ in placer.holders())},
        "targets": {"decisions_per_s": 5000, "failure_p99_ms": 5.0, "peak_memory_mib": 2048},
        "meets_targets": {
            "decisions_per_s": rates["sustained_slowest_window"] >= 5000,
            "failure_p99_ms": p99 <= 5.0,
            "peak_memory": rss <= 2 * 2**30,
        },
        "machine": machine(),
    }, sys.stdout, indent=2)  # fmt: skip
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
