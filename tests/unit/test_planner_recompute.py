"""Anyone can check a plan: recompute its money and feasibility from its own JSON.

`check_plan` is written from design/SCENARIO.md alone (dates, Fractions and loops, no planner
code) and is shared by the other planner tests, as is `random_scenario`.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from gpufleet.planning.planner import plan
from gpufleet.planning.scenario import (
    InferenceProgram,
    Scenario,
    TrainingProgram,
    load_scenario_file,
    parse_scenario,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "gpufleet" / "examples"
TOL = 1e-6  # relative, for quantities that went through the solver (GPUs, work)


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def periods_of(s: Scenario) -> list[tuple[datetime, datetime]]:
    length = timedelta(days=7 if s.horizon.period == "week" else 1)
    return [
        (s.horizon.start + t * length, s.horizon.start + (t + 1) * length)
        for t in range(s.horizon.periods)
    ]


def hours_between(a: datetime, b: datetime) -> Fraction:
    return Fraction(max(0, int((b - a).total_seconds())), 3600)


def capacity(s: Scenario) -> dict[tuple[str, int], int]:
    share = 1 - Fraction(str(s.reliability.unavailable_fraction))
    out: dict[tuple[str, int], int] = {}
    for t, (start, _) in enumerate(periods_of(s)):
        for model in s.gpu_models:
            installed = sum(
                c.pods * c.blocks_per_pod * c.nodes_per_block * c.gpus_per_node
                for c in s.clusters
                if c.gpu_model == model.name
                and (c.online_from is None or start >= c.online_from)
                and (c.offline_from is None or start < c.offline_from)
            )
            out[model.name, t] = math.floor(share * installed)
    return out


def rental_revenue(s: Scenario, r: Any) -> Fraction:
    end = (
        s.horizon.start
        + timedelta(days=(7 if s.horizon.period == "week" else 1)) * s.horizon.periods
    )
    inside = hours_between(max(r.start, s.horizon.start), min(r.end, end))
    return r.gpus * inside * Fraction(Decimal(str(r.price_per_gpu_hour)))


def occupies(r: Any, start: datetime, end: datetime) -> bool:
    return bool(r.start < end and start < r.end)


def overdue_days(p: TrainingProgram, start: datetime, end: datetime) -> Fraction:
    return hours_between(max(start, p.due), end) / 24


def check_plan(s: Scenario, out: dict[str, Any]) -> None:
    """Every rule of SCENARIO.md that a plan's JSON can be held to."""
    assert out["status"] in ("optimal", "feasible")
    periods = periods_of(s)
    hours = 168 if s.horizon.period == "week" else 24
    rel = {m.name: m.relative_throughput for m in s.gpu_models}
    cap = capacity(s)
    accepted = {d["id"] for d in out["decisions"] if d["accepted"]}
    requests = {r.id: r for r in s.rental_requests}
    assert [d["id"] for d in out["decisions"]] == list(requests)

    # money
    for d in out["decisions"]:
        assert close(d["revenue"], float(rental_revenue(s, requests[d["id"]]) / 1)), d
    revenue = sum((rental_revenue(s, requests[i]) for i in accepted), Fraction(0))
    committed = sum((rental_revenue(s, r) for r in s.leases), Fraction(0))
    assert close(out["revenue"], float(revenue))
    assert close(out["committed_revenue"], float(committed))

    # allocation rows: one per (period, model), capacity and commitments exact
    rows = {(a["period"], a["gpu_model"]): a for a in out["allocation"]}
    assert len(rows) == len(periods) * len(s.gpu_models)
    programs = {p.name: p for p in s.programs}
    for (t, model), a in rows.items():
        start, end = periods[t]
        assert a["capacity"] == cap[model, t]
        assert a["leases"] == sum(
            r.gpus for r in s.leases if r.gpu_model == model and occupies(r, start, end)
        )
        assert a["rentals"] == sum(
            requests[i].gpus
            for i in accepted
            if requests[i].gpu_model == model and occupies(requests[i], start, end)
        )
        used = 0.0
        for name, gpus in a["programs"].items():
            assert gpus >= -TOL
            assert model in programs[name].gpu_models
            p = programs[name]
            if isinstance(p, TrainingProgram) and p.earliest_start and start < p.earliest_start:
                assert gpus <= TOL, f"{name} works before earliest_start in period {t}"
            used += gpus
        total = a["leases"] + a["rentals"] + used
        assert total <= a["capacity"] * (1 + TOL) + TOL, (t, model)
        assert a["idle"] >= 0
        assert abs(a["idle"] - max(0.0, a["capacity"] - total)) <= TOL * max(1, a["capacity"])

    def gpus_of(name: str, t: int) -> dict[str, float]:
        return {m.name: rows[t, m.name]["programs"].get(name, 0.0) for m in s.gpu_models}

    # programs: inference served; training work, finish, slip and delay cost
    outcome = {p["name"]: p for p in out["programs"]}
    delay_total = Fraction(0)
    for p in s.programs:
        if isinstance(p, InferenceProgram):
            for t in range(len(periods)):
                need = p.gpus if isinstance(p.gpus, int) else p.gpus[t]
                served = sum(g * rel[m] for m, g in gpus_of(p.name, t).items())
                assert served >= need * (1 - TOL) - TOL, (p.name, t)
            continue
        o = outcome[p.name]
        done = 0.0
        cumulative = []
        for t in range(len(periods)):
            per_period = gpus_of(p.name, t)
            if p.max_gpus is not None:
                assert sum(per_period.values()) <= p.max_gpus * (1 + TOL)
            done += sum(g * rel[m] for m, g in per_period.items()) * hours
            cumulative.append(done)
        ends = [e for _, e in periods]
        if o["status"] == "finished":
            f = ends.index(day(o["finish"]))
            assert cumulative[f] >= p.work_gpu_hours * (1 - TOL), p.name
            charged = sum((overdue_days(p, *periods[t]) for t in range(f + 1)), Fraction(0))
            slip = max(Fraction(0), Fraction(int((ends[f] - p.due).total_seconds()), 86400))
            assert close(o["slip_days"], float(slip))
        else:
            assert o["status"] == "unfinished"
            assert o["finish"] is None
            charged = sum((overdue_days(p, *w) for w in periods), Fraction(0))
            assert close(o["slip_days"], float(charged))
        cost = charged * Fraction(Decimal(str(p.delay_cost_per_day)))
        assert close(o["delay_cost"], float(cost)), p.name
        delay_total += cost
    assert close(out["delay_cost"], float(delay_total))
    assert close(out["objective"], float(revenue - delay_total))
    assert out["bound"] >= out["objective"] - 1e-9 * max(1.0, abs(out["objective"]))
    assert close(out["gap"], (out["bound"] - out["objective"]) / max(1.0, abs(out["bound"])))

    # bid prices: ≥ 0, zero where capacity is idle; opportunity cost from them
    price = {(b["period"], b["gpu_model"]): b["usd_per_gpu_hour"] for b in out["bid_prices"]}
    assert set(price) == set(rows)
    for key, value in price.items():
        assert value >= 0
        if rows[key]["idle"] > TOL * max(1, rows[key]["capacity"]):
            assert value == 0, key
    for d in out["decisions"]:
        r = requests[d["id"]]
        expected = sum(
            r.gpus * hours * price[t, r.gpu_model]
            for t, (start, end) in enumerate(periods)
            if occupies(r, start, end)
        )
        assert close(d["opportunity_cost"], expected, 1e-9), d["id"]


def random_scenario(
    seed: int, *, requests: int = 8, periods: int = 6, period: str = "week"
) -> dict[str, Any]:
    """A small scenario: H100 from the start, GB200 coming online later, one or two training
    programs, maybe inference and a lease, requests at odd dates, some past the horizon."""
    rng = random.Random(seed)
    length = 7 if period == "week" else 1
    start = day("2027-01-04")

    def at(offset_days: float) -> str:
        return (start + timedelta(days=offset_days)).isoformat()

    span = periods * length
    h100 = rng.choice([64, 96, 128])
    gb200 = rng.choice([32, 64])
    online = rng.randrange(0, periods) * length
    clusters = [
        {"name": "h", "gpu_model": "H100", "gpus_per_node": 8, "nodes_per_block": 1,
         "blocks_per_pod": h100 // 8, "pods": 1},
        {"name": "g", "gpu_model": "GB200", "gpus_per_node": 4, "nodes_per_block": 1,
         "blocks_per_pod": gb200 // 4, "pods": 1, "online_from": at(online)},
    ]  # fmt: skip
    programs: list[dict[str, Any]] = []
    for j in range(rng.choice([1, 1, 2])):
        earliest = rng.randrange(0, max(1, periods // 2)) * length + rng.choice([0, 0, 2])
        rate = (h100 * 0.5 + gb200 * 2.5 * 0.5) * 24 * length
        programs.append(
            {"name": f"train-{j}", "kind": "training",
             "gpu_models": rng.choice([["GB200"], ["H100", "GB200"], ["H100"]]),
             "work_gpu_hours": round(rate * rng.uniform(0.3, periods * 0.6), 1),
             "earliest_start": at(earliest),
             "due": at(earliest + rng.randrange(1, periods) * length + rng.choice([0, 0, 3])),
             "delay_cost_per_day": rng.choice([0, 1000, 3000, 6000, 9000])}
        )  # fmt: skip
        if rng.random() < 0.4:
            programs[-1]["max_gpus"] = rng.choice([24, 48])
    if rng.random() < 0.6:
        programs.append(
            {"name": "serve", "kind": "inference", "gpu_models": ["H100", "GB200"],
             "gpus": [rng.randrange(0, h100 // 3) for _ in range(periods)]}
        )  # fmt: skip
    rentals = []
    for r in range(requests):
        begin = rng.uniform(-length, span) if rng.random() > 0.1 else span + rng.uniform(0, 9)
        begin = round(begin * 4) / 4  # quarter days: not aligned with periods
        model = rng.choice(["H100", "GB200"])
        rentals.append(
            {"id": f"rfq-{r}", "customer": "c", "gpu_model": model,
             "gpus": rng.randrange(8, (h100 if model == "H100" else gb200) // 2 + 9, 8),
             "start": at(begin), "end": at(begin + rng.uniform(0.5, span * 0.4)),
             "price_per_gpu_hour": round(rng.uniform(0.8, 4.5), 2)}
        )  # fmt: skip
    leases = []
    if rng.random() < 0.5:
        leases.append(
            {"id": "lease-0", "customer": "c", "gpu_model": "H100", "gpus": h100 // 8,
             "start": at(0), "end": at(span / 2), "price_per_gpu_hour": 2.0}
        )  # fmt: skip
    return {
        "version": 1,
        "horizon": {"start": "2027-01-04", "period": period, "periods": periods},
        "reliability": {"unavailable_fraction": rng.choice([0.0, 0.03])},
        "gpu_models": [
            {"name": "H100", "relative_throughput": 1.0},
            {"name": "GB200", "relative_throughput": 2.5},
        ],
        "clusters": clusters,
        "programs": programs,
        "rental_requests": rentals,
        "leases": leases,
    }


def test_small_example_plan_recomputes_from_its_json() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    result = plan(scenario, gap=1e-6)
    assert result.status == "optimal"
    check_plan(scenario, result.to_dict())


def test_small_example_plan_is_the_trade_off_its_comments_describe() -> None:
    # rfq-7 ($4.9M) makes model-v2 a week late ($2.8M): worth it; rfq-3 cannot join it.
    result = plan(load_scenario_file(EXAMPLES / "small.yaml"), gap=1e-6)
    assert "rfq-7" in result.accepted_ids
    assert "rfq-3" not in result.accepted_ids
    assert result.program("model-v2").slip_days == 7
    assert result.delay_cost == pytest.approx(2_800_000)


@pytest.mark.parametrize("seed", range(12))
def test_generated_plan_recomputes_from_its_json(seed: int) -> None:
    period = "day" if seed % 4 == 3 else "week"
    scenario = parse_scenario(random_scenario(seed, requests=10, periods=8, period=period))
    result = plan(scenario, gap=1e-6)
    check_plan(scenario, result.to_dict())


def test_checker_catches_a_plan_that_lies_about_its_revenue() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    out = plan(scenario, gap=1e-6).to_dict()
    out["revenue"] += 1.0
    with pytest.raises(AssertionError):
        check_plan(scenario, out)


def test_checker_catches_an_overbooked_period() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    out = plan(scenario, gap=1e-6).to_dict()
    row = next(a for a in out["allocation"] if a["gpu_model"] == "GB200" and a["capacity"])
    row["programs"]["model-v2"] += row["capacity"]
    with pytest.raises(AssertionError):
        check_plan(scenario, out)
