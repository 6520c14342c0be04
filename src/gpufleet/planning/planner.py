"""Plan a scenario: which requests to sign, and what that does to the roadmap.

    result = plan(load_scenario_file("colossus.yaml"), gap=1e-3)
    print(result.objective, result.program("frontier-pretrain").slip_days)

    planner = Planner(scenario)          # keeps HiGHS loaded between solves
    free = planner.plan()
    forced = planner.plan(force_accept=["rfq-gb300-megadeal"])   # warm-started

The pipeline: 1. derive arrays (periods.py) 2. check that commitments fit, before any solver
(feasibility.py) 3. build the MILP once (milp.py; HiGHS gets it with inference pooled, an
exact and smaller form) 4. solve it (solver.py), warm from an earlier solution when there is
one 5. fix x, keep z at least the plan's values and solve the LP (the model as SCENARIO.md
writes it) for the allocation and bid prices 6. assemble the result with exact money
(assemble.py).

Bid prices. SCENARIO.md fixes x and z before the LP; with both fixed the objective is a
constant and every dual would be zero. Here x is fixed and z may rise above the plan's values
continuously, so a GPU-hour that brings a late program's fractional completion forward is
worth the delay cost it would save pro rata; a program that is on time or finished gives its
capacity no value, and idle capacity none either.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.assemble import Forced, assemble, infeasible
from gpufleet.planning.feasibility import Shortfall, shortfalls
from gpufleet.planning.milp import Model, build, objective
from gpufleet.planning.periods import BoolArray, Derived, derive
from gpufleet.planning.result import PlanResult
from gpufleet.planning.scenario.model import Scenario, TrainingProgram
from gpufleet.planning.solver import MilpSolver, PriceLp, ProgressCallback

DEFAULT_GAP = 1e-4


class Planner:
    """Plans one scenario; the MILP stays loaded so later solves start warm."""

    def __init__(self, scenario: Scenario, *, threads: int | None = None) -> None:
        self.scenario = scenario
        self.derived: Derived = derive(scenario)
        self._threads = threads
        self._model: Model | None = None
        self._milp_model: Model | None = None
        self._built_from: Derived = self.derived  # what the loaded model's layout is for
        self._milp: MilpSolver | None = None
        self._lp: PriceLp | None = None

    @property
    def model(self) -> Model:
        """The model of SCENARIO.md, for the price LP and the allocation."""
        if self._model is None:
            self._model = build(self.derived)
            self._built_from = self.derived
        return self._model

    @property
    def milp_model(self) -> Model:
        """The same MILP with inference pooled (`build(pooled=True)`): what HiGHS solves.
        Its x and z columns are those of `model`, in the same order."""
        if self._milp_model is None:
            self._milp_model = build(self.derived, pooled=True)
        return self._milp_model

    def plan(
        self,
        *,
        time_limit: float | None = None,
        gap: float = DEFAULT_GAP,
        force_accept: Iterable[str] = (),
        force_reject: Iterable[str] = (),
        progress: ProgressCallback | None = None,
        abs_gap: float | None = None,
    ) -> PlanResult:
        """The best plan within `gap` (relative) or `time_limit` seconds; `abs_gap` (USD)
        asks for a proven gap in dollars at most that, where that is tighter than `gap`
        (honoured on warm re-solves: the quote's way to know a request's value well enough
        whatever its size). An infeasible
        scenario is a result (status "infeasible" with `reasons`), not an error; unknown or
        contradictory ids and bad options raise `InvalidInput`. `progress` is called about
        four times a second while the MILP runs; returning True stops it with the best plan
        so far. Not thread-safe: one solve at a time per Planner."""
        started = time.perf_counter()
        if not 0 <= gap < 1:
            raise InvalidInput(f"gap must be at least 0 and below 1, not {gap}")
        if time_limit is not None and not time_limit > 0:
            raise InvalidInput(f"time limit must be positive, not {time_limit}")
        if abs_gap is not None and not abs_gap >= 0:
            raise InvalidInput(f"absolute gap must be at least 0, not {abs_gap}")
        forced = self._forced(force_accept, force_reject)
        problems = shortfalls(self.derived, forced.accept)
        if problems:
            return infeasible(self.derived, problems, time.perf_counter() - started, forced)
        model = self.model
        x_req = model.layout.x_request
        x_lower = forced.accept[x_req].astype(np.float64)
        x_upper = (~forced.reject[x_req]).astype(np.float64)
        outcome = self._solver().solve(
            x_lower, x_upper, time_limit=time_limit, gap=gap, abs_gap=abs_gap, progress=progress
        )
        if outcome.status == "infeasible":  # not expected after the direct check
            reason = Shortfall((), (), 0.0, 0.0, "the solver proved the model infeasible")
            return infeasible(self.derived, [reason], time.perf_counter() - started, forced)
        lay = self.milp_model.layout
        if outcome.values is None:  # stopped before any solution: forced requests only
            x, z = x_lower, np.zeros(len(lay.z_program))
        else:
            x = np.round(outcome.values[lay.x_cols])
            z = np.round(outcome.values[lay.z_cols])
        lp = self._price_lp().solve(x, z)
        accepted = forced.accept.copy()
        accepted[x_req] = x > 0.5
        return assemble(
            self.derived,
            model,
            accepted,
            lp.values,
            lp.row_duals,
            status="optimal" if outcome.status == "optimal" else "feasible",
            bound=outcome.bound,
            seconds=time.perf_counter() - started,
            forced=forced,
        )

    def reprice(self, scenario: Scenario) -> None:
        """Plan `scenario` from now on: the loaded one with other delay costs per day
        (nothing else may differ; `InvalidInput` otherwise). The MILP stays loaded and only
        its objective changes, so the next solve starts from the last solution, which no
        constraint made infeasible. The frontier re-solves one scenario at many delay-cost
        factors this way. A delay cost turning positive where the loaded model had none
        rebuilds the model (its z columns were left out) and starts cold."""
        if not _same_but_delay_costs(self.scenario, scenario):
            raise InvalidInput("reprice: the scenarios differ in more than delay costs")
        derived = derive(scenario)
        self.scenario, self.derived = scenario, derived
        if self._model is None:
            return
        charged = derived.training.delay_cost_usd_per_day > 0
        if (charged & ~(self._built_from.training.delay_cost_usd_per_day > 0)).any():
            self._model, self._milp_model, self._milp, self._lp = None, None, None, None
            return
        self._model = _repriced(self._model, derived)
        if self._lp is not None:
            self._lp.set_objective(self._model)
        if self._milp_model is not None:
            self._milp_model = _repriced(self._milp_model, derived)
            if self._milp is not None:
                self._milp.set_objective(self._milp_model)

    def _solver(self) -> MilpSolver:
        if self._milp is None:
            self._milp = MilpSolver(self.milp_model, threads=self._threads)
        return self._milp

    def _price_lp(self) -> PriceLp:
        if self._lp is None:
            self._lp = PriceLp(self.model, threads=self._threads)
        return self._lp

    def _forced(self, accept: Iterable[str], reject: Iterable[str]) -> Forced:
        ids = self.derived.requests.ids
        index = {rid: r for r, rid in enumerate(ids)}
        masks: list[BoolArray] = []
        for option, chosen in (("force_accept", accept), ("force_reject", reject)):
            mask = np.zeros(len(ids), dtype=bool)
            for rid in chosen:
                if rid not in index:
                    raise InvalidInput(f"{option}: no pending rental request with id {rid!r}")
                mask[index[rid]] = True
            masks.append(mask)
        both = masks[0] & masks[1]
        if both.any():
            clash = ", ".join(ids[r] for r in np.flatnonzero(both))
            raise InvalidInput(f"cannot both accept and reject {clash}")
        return Forced(masks[0], masks[1])


def plan(
    scenario: Scenario,
    *,
    time_limit: float | None = None,
    gap: float = DEFAULT_GAP,
    force_accept: Iterable[str] = (),
    force_reject: Iterable[str] = (),
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> PlanResult:
    """Plan `scenario` once. Use `Planner` to re-solve the same scenario warm."""
    return Planner(scenario, threads=threads).plan(
        time_limit=time_limit,
        gap=gap,
        force_accept=force_accept,
        force_reject=force_reject,
        progress=progress,
    )


def _repriced(model: Model, derived: Derived) -> Model:
    cost, offset = objective(derived, model.layout)
    return replace(model, col_cost=cost, offset=offset)


def _same_but_delay_costs(a: Scenario, b: Scenario) -> bool:
    if len(a.programs) != len(b.programs):
        return False
    programs = [
        q.model_copy(update={"delay_cost_per_day": p.delay_cost_per_day})
        if isinstance(p, TrainingProgram) and isinstance(q, TrainingProgram)
        else q
        for p, q in zip(a.programs, b.programs, strict=True)
    ]
    return programs == a.programs and b.model_copy(update={"programs": a.programs}) == a
