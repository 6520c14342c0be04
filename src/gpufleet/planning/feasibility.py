"""Can the commitments alone fit? Checked directly, before any solver runs.

Training programs may always wait (z = 0), so the MILP is feasible exactly when leases,
requests forced in, and inference needs fit capacity in every period. Inference is a
transport problem per period: program k needs `need[k,t]` H100-equivalents from its models,
and model m offers `free[m,t] · relative_throughput_m`. By Hall's theorem it fits exactly when,
for every set S of models, the programs that can use only models in S need no more than S
offers; only unions of the programs' model sets can be the tightest S, so those are checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpufleet.planning.periods import BoolArray, Derived, FloatArray, IntArray

# Enough for any fleet a person writes down; beyond it the check would take too long to be
# "direct", and the MILP still reports infeasibility on its own.
MAX_MODEL_SETS = 4096
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Shortfall:
    """In `periods`, commitments on `gpu_models` exceed what those models can give."""

    periods: tuple[int, ...]
    gpu_models: tuple[str, ...]
    needed: float  # the most needed in one of these periods (GPUs or H100-equivalents)
    available: float  # what was available in that same period
    message: str


def commitments(derived: Derived, forced: BoolArray) -> IntArray:
    """GPUs per (model, period) held by leases and by requests forced to be accepted."""
    models, periods = derived.capacity.shape
    return derived.leases.load(models, periods) + derived.requests.load(models, periods, forced)


def shortfalls(derived: Derived, forced: BoolArray) -> list[Shortfall]:
    """Every way the commitments fail to fit, grouped into runs of consecutive periods."""
    committed = commitments(derived, forced)
    free = derived.capacity - committed
    found = _rental_overflows(derived, committed, bool(forced.any()))
    found += _inference_shortages(derived, np.maximum(free, 0))
    return found


def _rental_overflows(derived: Derived, committed: IntArray, any_forced: bool) -> list[Shortfall]:
    what = "leases and requests forced in" if any_forced else "leases"
    found: list[Shortfall] = []
    for m, name in enumerate(derived.models):
        over = committed[m] > derived.capacity[m]
        for run in _runs(over):
            worst = max(run, key=lambda t: committed[m, t] - derived.capacity[m, t])
            need, cap = int(committed[m, worst]), int(derived.capacity[m, worst])
            found.append(
                Shortfall(
                    run,
                    (name,),
                    float(need),
                    float(cap),
                    f"{_when(derived, run)}: {what} hold {need:,} {name} GPUs but capacity "
                    f"is {cap:,}",
                )
            )
    return found


def _inference_shortages(derived: Derived, free: IntArray) -> list[Shortfall]:
    inference = derived.inference
    if not len(inference):
        return []
    offer = free * derived.relative_throughput[:, None]  # [M, P] H100-equivalents
    claimed = np.zeros(derived.periods, dtype=bool)  # a period is named once, on fewest models
    found: list[Shortfall] = []
    for subset in _model_sets(inference.allowed):
        inside = np.logical_not(np.any(inference.allowed & ~subset, axis=1))  # only `subset`
        demand = inference.need[inside].sum(axis=0).astype(np.float64)
        supply: FloatArray = offer[subset].sum(axis=0)
        short = (demand > supply * (1 + _TOLERANCE) + _TOLERANCE) & ~claimed
        claimed |= short
        names = tuple(m for m, on in zip(derived.models, subset, strict=True) if on)
        users = [n for n, keep in zip(inference.names, inside, strict=True) if keep]
        for run in _runs(short):
            worst = max(run, key=lambda t: demand[t] - supply[t])
            found.append(
                Shortfall(
                    run,
                    names,
                    float(demand[worst]),
                    float(supply[worst]),
                    f"{_when(derived, run)}: inference ({', '.join(users)}) needs "
                    f"{demand[worst]:,.0f} H100-equivalent GPUs on {', '.join(names)} but only "
                    f"{supply[worst]:,.0f} are left after leases",
                )
            )
    return found


def _model_sets(allowed: BoolArray) -> list[BoolArray]:
    """Unions of the programs' model sets, smallest first."""
    seen = {tuple(bool(v) for v in row) for row in allowed}
    frontier = set(seen)
    while frontier and len(seen) < MAX_MODEL_SETS:
        grown = {
            tuple(a or b for a, b in zip(s, row, strict=True)) for s in frontier for row in seen
        }
        frontier = grown - seen
        seen |= frontier
    return [np.array(s, dtype=bool) for s in sorted(seen, key=lambda s: (sum(s), s))]


def _runs(mask: BoolArray) -> list[tuple[int, ...]]:
    """Runs of consecutive True periods."""
    runs: list[tuple[int, ...]] = []
    current: list[int] = []
    for t, on in enumerate(mask):
        if on:
            current.append(t)
        elif current:
            runs.append(tuple(current))
            current = []
    if current:
        runs.append(tuple(current))
    return runs


def _when(derived: Derived, run: tuple[int, ...]) -> str:
    first, last = run[0], run[-1]
    start = derived.period_start(first).date().isoformat()
    if first == last:
        return f"period {first} ({start})"
    end = derived.period_end(last).date().isoformat()
    return f"periods {first}-{last} ({start} to {end})"
