"""Arithmetic about what an example scenario means, on gpufleet's own parsed `Scenario`.

The contract (keys, types, references, C[m,t]) is gpufleet's: `parse_scenario` validates and
`capacity_by_period` computes capacity. What is here is only what the examples' story needs
on top: which periods a rental occupies, how its GPUs load a model, when a training run can
finish, and that signed leases plus inference always fit capacity.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from gpufleet.domain.errors import ScenarioInvalid
from gpufleet.planning.capacity import capacity_by_period
from gpufleet.planning.scenario import (
    Horizon,
    InferenceProgram,
    Rental,
    Scenario,
    parse_scenario,
    read_scenario_text,
)


class CheckError(Exception):
    """A generated scenario breaks the contract or the intent of the example."""


def to_scenario(doc: Any, source: str = "scenario") -> Scenario:
    """gpufleet's validation of a document (a dict, or YAML text), as a CheckError."""
    try:
        return parse_scenario(read_scenario_text(doc, source) if isinstance(doc, str) else doc)
    except ScenarioInvalid as exc:
        issues = "\n  ".join(str(issue) for issue in exc.issues)
        raise CheckError(f"{source}: rejected by gpufleet's loader:\n  {issues}") from exc


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def _utc(when: dt.date) -> dt.datetime:
    if isinstance(when, dt.datetime):
        return when
    return dt.datetime.combine(when, dt.time(), dt.UTC)


def first_period(hz: Horizon, when: dt.date) -> int:
    """Index of the first period starting on or after `when` (may be >= periods)."""
    return max(0, -(-(_utc(when) - hz.start) // hz.period_length))


def occupied(hz: Horizon, start: dt.date, end: dt.date) -> range:
    """Periods overlapping [start, end) -- the whole period, even partly."""
    start, end = _utc(start), _utc(end)
    if end <= hz.start or start >= hz.end:
        return range(0)
    first = max(0, (start - hz.start) // hz.period_length)
    last = min(hz.periods - 1, -(-(end - hz.start) // hz.period_length) - 1)
    return range(first, last + 1)


def hours_inside(hz: Horizon, start: dt.date, end: dt.date) -> int:
    lo, hi = max(_utc(start), hz.start), min(_utc(end), hz.end)
    return max(0, int((hi - lo).total_seconds()) // 3600)


def throughput(scn: Scenario) -> dict[str, float]:
    return {g.name: g.relative_throughput for g in scn.gpu_models}


def capacity(scn: Scenario) -> dict[str, list[int]]:
    """gpufleet's C[m][t], for every declared model (in declaration order, 0 without clusters)."""
    by_model = capacity_by_period(scn.clusters, scn.horizon, scn.reliability.unavailable_fraction)
    return {g.name: by_model.get(g.name, [0] * scn.horizon.periods) for g in scn.gpu_models}


def installed_by_model(scn: Scenario) -> dict[str, int]:
    """Installed GPUs of each declared model over all its clusters (online or not)."""
    return {
        g.name: sum(c.installed_gpus for c in scn.clusters if c.gpu_model == g.name)
        for g in scn.gpu_models
    }


def rental_load(scn: Scenario, rentals: Iterable[Rental]) -> dict[str, list[int]]:
    """GPUs of each model the rentals hold in each period they occupy."""
    load = {g.name: [0] * scn.horizon.periods for g in scn.gpu_models}
    for r in rentals:
        for t in occupied(scn.horizon, r.start, r.end):
            load[r.gpu_model][t] += r.gpus
    return load


def inference_programs(scn: Scenario) -> list[InferenceProgram]:
    return [p for p in scn.programs if isinstance(p, InferenceProgram)]


def inference_needs(scn: Scenario) -> dict[str, list[int]]:
    """H100-equivalent GPUs each inference program needs in each period."""
    periods = range(scn.horizon.periods)
    return {p.name: [p.gpus_in(t) for t in periods] for p in inference_programs(scn)}


def finish_period(work: float, rate_eq: Sequence[float], hours: int, first: int = 0) -> int | None:
    """The period in which `work` H100-hours are done at `rate_eq` H100-eq GPUs per period."""
    done = 0.0
    for t in range(first, len(rate_eq)):
        done += max(0.0, rate_eq[t]) * hours
        if done >= work:
            return t
    return None


def check_leases_and_inference_fit(scn: Scenario) -> None:
    """Leases + inference must fit C[m,t] in every period, or the plan is infeasible.

    Per period this is a transportation problem: inference program k needs gpus_k[t]
    H100-equivalents (y[k,m] x relative_throughput_m summed over its models), model m offers
    free_m = C[m,t] - leases[m,t] GPUs, i.e. free_m x rt_m equivalents. By Hall's theorem (the
    max-flow/min-cut of this bipartite network) it is feasible iff free_m >= 0 for every m and,
    for every subset S of inference programs, sum of their needs <= the equivalents offered by
    the union of their models.
    """
    hz, rt = scn.horizon, throughput(scn)
    cap = capacity(scn)
    lease = rental_load(scn, scn.leases)
    need = inference_needs(scn)
    allowed = {p.name: set(p.gpu_models) for p in inference_programs(scn)}
    problems: list[str] = []
    for t in range(hz.periods):
        when = hz.period_start(t).date()
        free = {m: cap[m][t] - lease[m][t] for m in cap}
        for m, f in free.items():
            if f < 0:
                problems.append(
                    f"period {t} ({when}): {m} leases {lease[m][t]} > capacity {cap[m][t]}"
                )
        for size in range(1, len(need) + 1):
            for subset in itertools.combinations(sorted(need), size):
                demand = sum(need[k][t] for k in subset)
                union = set().union(*(allowed[k] for k in subset))
                supply = sum(max(0, free[m]) * rt[m] for m in union)
                if demand > supply + 1e-9:
                    problems.append(
                        f"period {t} ({when}): inference {'+'.join(subset)} needs "
                        f"{demand:.0f} H100-eq but {'/'.join(sorted(union))} offer {supply:.0f} "
                        f"after leases"
                    )
    if problems:
        raise CheckError(
            "leases + inference exceed capacity (the plan would be infeasible):\n  "
            + "\n  ".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
