"""The MILP of design/SCENARIO.md as bulk sparse arrays (column-wise) for HiGHS.

Columns, in this order:
  x[r]      binary, one per pending request that occupies at least one period
  y[p,m,t]  GPUs of model m for program p in period t; only for its models, for periods
            starting on or after `earliest_start`, and where capacity is left after leases;
            bounded by that capacity (and by max_gpus)
  z[j,t]    binary, training j complete by the end of t; only where it earns something
            (overdue(j, t+1) > 0 and a delay cost) and where the work could be complete by t
            at all; elsewhere z = 0 costs nothing and the column is left out
  w[j,t]    cumulative work of training j up to the end of t, in H100-GPU-periods
Rows:
  capacity  Σ g_r x_r + Σ_p y[p,m,t] ≤ C[m,t] − leases[m,t]
  flow      w[j,t] − w[j,t−1] − Σ_m rel_m y[j,m,t] = 0     (cumulative work, not prefix sums)
  finish    w[j,t] − (work_j / H) z[j,t] ≥ 0
  monotone  z[j,t] − z[j,t−1] ≥ 0
  limit     Σ_m y[j,m,t] ≤ max_gpus_j                       (only where it can bind)
  serve     Σ_m rel_m y[k,m,t] ≥ need[k,t]
            (pooled, for the solver: Σ_{m in U} rel_m y[pool,m,t] ≥ Σ_{k: models_k ⊆ U}
            need[k,t] for each union U of inference model sets; see `_serving`)

The objective is maximised in millions of dollars (`OBJECTIVE_SCALE`) to keep the solver's
numbers moderate. Σ_t (1 − z[j,t−1])·overdue(j,t) is split into the constant Σ_t overdue(j,t)
(the offset) and the terms z[j,t]·overdue(j,t+1); so the optimum's value is exactly
revenue − delay cost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gpufleet.planning.bounds import free_capacity, most_work_per_period
from gpufleet.planning.periods import BoolArray, Derived, FloatArray, Inference, IntArray
from gpufleet.planning.sparse import Triplets, grid, ragged_arange

OBJECTIVE_SCALE = 1e-6  # dollars → millions of dollars
INF = float("inf")
_MAX_POOLED_GROUPS = 16


@dataclass(frozen=True)
class Layout:
    """Where each variable and row lives; arrays are parallel per block."""

    x_request: IntArray  # request index of each x column (columns 0 .. len − 1)
    y_start: int
    y_program: IntArray  # programs indexed training 0..J−1, then inference J..J+K−1
    y_model: IntArray
    y_period: IntArray
    z_start: int
    z_program: IntArray
    z_period: IntArray
    w_start: int
    w_program: IntArray
    w_period: IntArray
    capacity_row: IntArray  # [M, P], −1 where the row is left out (nothing uses it)
    num_col: int
    num_row: int

    @property
    def x_cols(self) -> IntArray:
        return np.arange(len(self.x_request), dtype=np.int64)

    @property
    def z_cols(self) -> IntArray:
        return self.z_start + np.arange(len(self.z_program), dtype=np.int64)


@dataclass(frozen=True)
class Model:
    layout: Layout
    col_cost: FloatArray
    # Second objective, for the allocation only: each training program's cumulative work as
    # a share of its total, summed over periods (work as early as the plan allows).
    fill_cost: FloatArray
    work_need: FloatArray  # [J] work of each training program, in H100-GPU-periods
    col_lower: FloatArray
    col_upper: FloatArray
    # The same without bounds the rows already imply (y ≤ free capacity, w ≤ the most work
    # possible): for the price LP, so that a binding capacity row carries its dual instead
    # of a column bound that happens to bind at the same point.
    col_upper_loose: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    start: IntArray  # CSC
    index: IntArray
    value: FloatArray
    integrality: IntArray  # 1 for x and z, 0 otherwise
    offset: float
    x_model: IntArray  # GPU model of each x column's request
    # [M, M] models that compete for the same work: the same model, or two models some
    # training program may use both of (warm starts repair around a forced request with it)
    linked_models: BoolArray


@dataclass(frozen=True)
class _Columns:
    layout: Layout
    upper: FloatArray
    loose: FloatArray  # see Model.col_upper_loose
    need: FloatArray  # [J] work in H100-GPU-periods
    y_cols: IntArray
    z_col: IntArray  # [J, P] column or −1
    w_col: IntArray  # [J, P] column or −1
    is_train: BoolArray  # per y column


def build(derived: Derived, *, pooled: bool = False) -> Model:
    """The model with every x free in [0, 1]; the planner fixes forced ones by bounds.

    `pooled`: the inference programs share one set of y columns (GPUs of each model given
    to inference, `y_program` = J), served by one row per union of their model sets
    (`_serving`); an exact and smaller MILP, for the solver only: it says nothing of which
    program runs where, so allocations and prices come from the model built without it.
    x and z columns are the same in both, in the same order."""
    free = np.maximum(free_capacity(derived), 0)
    serving = _serving(derived.inference, pooled)
    cols = _columns(derived, free, serving)
    rows = Triplets()
    capacity_row = _capacity_rows(derived, cols, free, rows)
    _work_rows(derived, cols, rows)
    _limit_rows(derived, cols, rows)
    _serve_rows(derived, cols, rows, serving)
    layout = replace(cols.layout, capacity_row=capacity_row, num_row=rows.count)
    cost, offset = objective(derived, layout)
    start, index, value = rows.csc(layout.num_col)
    integrality = np.zeros(layout.num_col, dtype=np.int64)
    integrality[layout.x_cols] = 1
    integrality[layout.z_cols] = 1
    return Model(
        layout=layout,
        col_cost=cost,
        fill_cost=_fill_cost(layout, cols.need),
        work_need=cols.need,
        col_lower=np.zeros(layout.num_col),
        col_upper=cols.upper,
        col_upper_loose=cols.loose,
        row_lower=rows.lower,
        row_upper=rows.upper,
        start=start,
        index=index,
        value=value,
        integrality=integrality,
        offset=offset,
        x_model=derived.requests.model[layout.x_request],
        linked_models=_linked_models(derived),
    )


def _columns(derived: Derived, free: IntArray, serving: _Serving) -> _Columns:
    models, periods = derived.capacity.shape
    training = derived.training
    n_train, n_serving = len(training), len(serving.allowed)
    x_request = np.flatnonzero(derived.requests.occupies_any).astype(np.int64)

    # y: (program, model, period) triples that may be nonzero
    allowed = np.vstack([training.allowed, serving.allowed]).reshape(-1, models)
    start = np.concatenate([training.first_period, np.zeros(n_serving, dtype=np.int64)])
    usable = allowed[:, :, None] & (free[None, :, :] > 0)
    usable &= np.arange(periods)[None, None, :] >= start[:, None, None]
    y_program, y_model, y_period = (a.astype(np.int64) for a in np.nonzero(usable))
    limit = np.concatenate([training.max_gpus, np.full(n_serving, INF)])
    y_upper = np.minimum(free[y_model, y_period], limit[y_program]).astype(np.float64)

    # w from the first usable period; z only where the work could be complete by then
    w_upper = np.cumsum(most_work_per_period(derived, free), axis=1)
    need = training.work_gpu_hours / derived.hours
    reachable = w_upper >= need[:, None] * (1 - 1e-9)
    # z[j,t] only matters through overdue(j, t+1): where that is zero it can stay 0.
    priced = np.zeros_like(reachable)
    priced[:, :-1] = training.overdue_seconds[:, 1:] > 0
    priced &= np.array(training.delay_cost_micros_per_day)[:, None] > 0 if n_train else priced
    z_program, z_period = (a.astype(np.int64) for a in np.nonzero(reachable & priced))
    started = np.arange(periods)[None, :] >= start[:n_train, None]
    w_program, w_period = (a.astype(np.int64) for a in np.nonzero(started))

    n_x, n_y, n_z, n_w = len(x_request), len(y_program), len(z_program), len(w_program)
    y0, z0, w0 = n_x, n_x + n_y, n_x + n_y + n_z
    layout = Layout(
        x_request=x_request,
        y_start=y0,
        y_program=y_program,
        y_model=y_model,
        y_period=y_period,
        z_start=z0,
        z_program=z_program,
        z_period=z_period,
        w_start=w0,
        w_program=w_program,
        w_period=w_period,
        capacity_row=np.full((models, periods), -1, dtype=np.int64),
        num_col=w0 + n_w,
        num_row=0,
    )
    upper = np.concatenate([np.ones(n_x), y_upper, np.ones(n_z), w_upper[w_program, w_period]])
    loose = upper.copy()
    loose[y0:z0] = limit[y_program]
    loose[w0:] = INF
    shape = (n_train, periods)
    return _Columns(
        layout=layout,
        upper=upper,
        loose=loose,
        need=need,
        y_cols=y0 + np.arange(n_y, dtype=np.int64),
        z_col=grid(shape, z_program, z_period, z0 + np.arange(n_z)),
        w_col=grid(shape, w_program, w_period, w0 + np.arange(n_w)),
        is_train=y_program < n_train,
    )


def _capacity_rows(derived: Derived, cols: _Columns, free: IntArray, rows: Triplets) -> IntArray:
    """Σ g_r x_r + Σ y ≤ free, only for (m, t) that some column uses; returns the row grid."""
    lay, req = cols.layout, derived.requests
    spans = req.stop[lay.x_request] - req.first[lay.x_request]
    x_col = np.repeat(lay.x_cols, spans)
    x_t = np.repeat(req.first[lay.x_request], spans) + ragged_arange(spans)
    x_m = np.repeat(req.model[lay.x_request], spans)
    used = np.zeros(derived.capacity.shape, dtype=bool)
    used[x_m, x_t] = True
    used[lay.y_model, lay.y_period] = True
    cap_m, cap_t = np.nonzero(used)
    ids = rows.add_rows(np.full(len(cap_m), -INF), free[cap_m, cap_t].astype(np.float64))
    row = grid(derived.capacity.shape, cap_m, cap_t, ids)
    rows.add(row[x_m, x_t], x_col, req.gpus[lay.x_request][x_col].astype(np.float64))
    rows.add(row[lay.y_model, lay.y_period], cols.y_cols, 1.0)
    return row


def _work_rows(derived: Derived, cols: _Columns, rows: Triplets) -> None:
    """Cumulative work (flow), completion (finish) and monotone z."""
    lay, rel = cols.layout, derived.relative_throughput
    shape = cols.w_col.shape
    wj, wt = lay.w_program, lay.w_period
    flow = grid(shape, wj, wt, rows.add_rows(np.zeros(len(wj)), np.zeros(len(wj))))
    rows.add(flow[wj, wt], cols.w_col[wj, wt], 1.0)
    prev = (wt > 0) & (cols.w_col[wj, np.maximum(wt - 1, 0)] >= 0)
    rows.add(flow[wj[prev], wt[prev]], cols.w_col[wj[prev], wt[prev] - 1], -1.0)
    train = cols.is_train
    yj, ym, yt = lay.y_program[train], lay.y_model[train], lay.y_period[train]
    rows.add(flow[yj, yt], cols.y_cols[train], -rel[ym])

    zj, zt = lay.z_program, lay.z_period
    finish = rows.add_rows(np.zeros(len(zj)), np.full(len(zj), INF))
    rows.add(finish, cols.w_col[zj, zt], 1.0)
    rows.add(finish, lay.z_cols, -cols.need[zj])

    pair = (zt > 0) & (cols.z_col[zj, np.maximum(zt - 1, 0)] >= 0)
    mono = rows.add_rows(np.zeros(int(pair.sum())), np.full(int(pair.sum()), INF))
    rows.add(mono, cols.z_col[zj[pair], zt[pair]], 1.0)
    rows.add(mono, cols.z_col[zj[pair], zt[pair] - 1], -1.0)


def _limit_rows(derived: Derived, cols: _Columns, rows: Triplets) -> None:
    """Σ_m y[j,m,t] ≤ max_gpus, only where its models together could exceed it."""
    lay, train, max_gpus = cols.layout, cols.is_train, derived.training.max_gpus
    yj, yt, ycol = lay.y_program[train], lay.y_period[train], cols.y_cols[train]
    offered = np.zeros(cols.w_col.shape)
    np.add.at(offered, (yj, yt), cols.upper[ycol])
    lim_j, lim_t = np.nonzero(offered > max_gpus[:, None])
    ids = rows.add_rows(np.full(len(lim_j), -INF), max_gpus[lim_j])
    row = grid(cols.w_col.shape, lim_j, lim_t, ids)[yj, yt]
    rows.add(row[row >= 0], ycol[row >= 0], 1.0)


def _serve_rows(derived: Derived, cols: _Columns, rows: Triplets, serving: _Serving) -> None:
    """Σ_{m in its models} rel_m y[program,m,t] ≥ need[g,t] for each serving group g
    where need > 0 (see `_serving`)."""
    lay, need = cols.layout, serving.need
    serve_g, serve_t = np.nonzero(need > 0)
    ids = rows.add_rows(need[serve_g, serve_t].astype(np.float64), np.full(len(serve_g), INF))
    row_of = grid(need.shape, serve_g, serve_t, ids)
    inf = ~cols.is_train
    program = lay.y_program[inf] - len(derived.training)
    model, period, col = lay.y_model[inf], lay.y_period[inf], cols.y_cols[inf]
    for g in range(len(need)):
        mine = (program == serving.program[g]) & serving.models[g, model]
        row = row_of[g, period[mine]]
        keep = row >= 0
        rel = derived.relative_throughput[model[mine][keep]]
        rows.add(row[keep], col[mine][keep], rel)


@dataclass(frozen=True)
class _Serving:
    """How the MILP serves inference: y columns for each row of `allowed` (one per
    inference program, or one pool for them all), and serve rows per group g: the y of
    `program[g]` on `models[g]` must give at least `need[g, t]` H100-equivalents."""

    allowed: BoolArray  # [programs with y columns, M]
    models: BoolArray  # [G, M]
    need: IntArray  # [G, P]
    program: IntArray  # [G] index into `allowed`


def _serving(inference: Inference, pooled: bool) -> _Serving:
    """Per program (as SCENARIO.md writes it), or pooled. Pooled is exact: GPUs given to
    inference as a whole can be split among the programs iff, for every set S of programs,
    the need of S is at most what the models any of S may use provide (Hall's condition for
    a transport problem), and it suffices to ask this for each union U of the programs'
    model sets, with every program whose models lie inside U. Not pooled when there are
    many unions (more rows than the pool saves)."""
    count, models = inference.allowed.shape
    per_program = _Serving(
        inference.allowed, inference.allowed, inference.need, np.arange(count, dtype=np.int64)
    )
    if not pooled or count < 2:
        return per_program
    unions = {tuple(a) for a in inference.allowed}
    while True:
        grown = unions | {tuple(np.logical_or(u, a)) for u in unions for a in inference.allowed}
        if grown == unions or len(grown) > _MAX_POOLED_GROUPS:
            break
        unions = grown
    if len(grown) > _MAX_POOLED_GROUPS:
        return per_program
    union = np.array(sorted(unions), dtype=bool).reshape(-1, models)
    inside = ~(inference.allowed[None, :, :] & ~union[:, None, :]).any(axis=2)  # [G, K]
    need = inside.astype(np.int64) @ inference.need
    pool: BoolArray = np.any(inference.allowed, axis=0, keepdims=True)
    return _Serving(
        pool,
        union,
        need,
        np.zeros(len(union), dtype=np.int64),
    )


def objective(derived: Derived, lay: Layout) -> tuple[FloatArray, float]:
    """Column costs and offset, in millions of dollars. Only delay costs and revenues enter
    here: a scenario that differs in them alone keeps the layout and every row (see
    `Planner.reprice`), as long as no delay cost turns positive where it was zero (a z
    column left out because it earned nothing would then be missing)."""
    training = derived.training
    cost = np.zeros(lay.num_col)
    cost[lay.x_cols] = derived.requests.revenue_usd[lay.x_request] * OBJECTIVE_SCALE
    per_day = training.delay_cost_usd_per_day * OBJECTIVE_SCALE
    overdue = training.overdue_days  # [J, P]
    next_overdue = np.zeros_like(overdue)
    next_overdue[:, :-1] = overdue[:, 1:]
    cost[lay.z_cols] = per_day[lay.z_program] * next_overdue[lay.z_program, lay.z_period]
    offset = -float((per_day[:, None] * overdue).sum()) if len(training) else 0.0
    return cost, offset


def _linked_models(derived: Derived) -> BoolArray:
    allowed = derived.training.allowed.astype(np.int64)
    linked: BoolArray = (allowed.T @ allowed > 0) | np.eye(len(derived.models), dtype=bool)
    return linked


def _fill_cost(lay: Layout, need: FloatArray) -> FloatArray:
    cost = np.zeros(lay.num_col)
    cost[lay.w_start :] = 1.0 / need[lay.w_program]
    return cost
