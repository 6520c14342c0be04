"""Tables for the things people look at: the fleet, programs, requests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from gpufleet.api.schemas.fleet import FleetSummary
from gpufleet.api.schemas.programs import ProgramOut
from gpufleet.api.schemas.rentals import AssignmentOut, LeaseOut, RentalOut
from gpufleet.cli.output import console, fmt, table
from gpufleet.domain.money import format_usd as usd


def show_fleet(summary: FleetSummary) -> None:
    if summary.horizon:
        h = summary.horizon
        console.print(
            f"[bold]{summary.name}[/]: {summary.installed_gpus:,} GPUs on {summary.nodes:,} "
            f"nodes; horizon {fmt(h.start)} → {fmt(h.end)} ({h.periods} {h.period}s), "
            f"{(summary.unavailable_fraction or 0) * 100:.1f}% of GPUs assumed down",
            highlight=False,
        )
    table(
        "GPUs per model",
        ["model", "throughput ×", "clusters #", "installed GPUs", "up GPUs"],
        [(m.name, m.relative_throughput, m.clusters, m.installed_gpus, m.gpus_up)
         for m in summary.gpu_models],
    )  # fmt: skip
    table(
        "Clusters",
        ["cluster", "model", "GPUs/node", "nodes/block", "blocks/pod", "pods #", "nodes",
         "installed GPUs", "online from", "not up nodes"],
        [
            (c.name, c.gpu_model, c.gpus_per_node, c.nodes_per_block, c.blocks_per_pod, c.pods,
             c.nodes, c.installed_gpus, c.online_from or "start",
             c.nodes - c.nodes_by_state.up)
            for c in summary.clusters
        ],
    )  # fmt: skip
    show_capacity(summary)


def show_capacity(summary: FleetSummary) -> None:
    """One row per period where capacity changes; one column per GPU model."""
    if not summary.capacity_over_time:
        return
    models = sorted({s.gpu_model for s in summary.capacity_over_time})
    current = dict.fromkeys(models, 0)
    rows = []
    by_period: dict[int, list[tuple[str, int]]] = defaultdict(list)
    starts = {}
    for step in summary.capacity_over_time:
        by_period[step.period].append((step.gpu_model, step.capacity))
        starts[step.period] = step.start
    for period in sorted(by_period):
        current.update(dict(by_period[period]))
        rows.append((period, starts[period], *(current[m] for m in models), sum(current.values())))
    table(
        "Capacity online over time (usable GPUs, from this period on)",
        ["period #", "from", *(f"{m} GPUs" for m in models), "total GPUs"],
        rows,
    )


def show_programs(programs: Sequence[ProgramOut]) -> None:
    table(
        "Internal programs",
        ["program", "kind", "models", "work (GPU-h)", "max GPUs", "due", "delay $/day",
         "inference GPUs"],
        [
            (p.name, p.kind, ", ".join(p.gpu_models),
             f"{p.work_gpu_hours:,.3g}" if p.work_gpu_hours else None, p.max_gpus, p.due,
             usd(p.delay_cost_per_day) if p.delay_cost_per_day is not None else None,
             _gpus(p.gpus))
            for p in programs
        ],
    )  # fmt: skip


def _gpus(gpus: int | list[int] | None) -> str | int | None:
    if isinstance(gpus, list):
        return f"{min(gpus):,}–{max(gpus):,} per period"
    return gpus


def show_rentals(title: str, rentals: Sequence[RentalOut], limit: int | None = None) -> None:
    shown = sorted(rentals, key=lambda r: -r.value_usd)[:limit] if limit else rentals
    table(
        title,
        ["id", "tenant", "model", "GPUs", "start", "end", "$/GPU-h", "class", "value USD"],
        [
            (r.id, r.tenant, r.gpu_model, r.gpus, r.start, r.end, r.price_per_gpu_hour,
             r.rental_class + (f" ({r.notice_hours}h notice)" if r.notice_hours else ""),
             usd(r.value_usd))
            for r in shown
        ],
    )  # fmt: skip


def show_demand(rentals: Sequence[RentalOut]) -> None:
    """Pending demand per model and class: how much is asked for, and what it is worth."""
    groups: dict[tuple[str, str], list[RentalOut]] = defaultdict(list)
    for r in rentals:
        groups[(r.gpu_model, r.rental_class)].append(r)
    table(
        "Pending rental requests per model and class",
        ["model", "class", "requests #", "GPUs asked (sum)", "largest GPUs", "value USD"],
        [
            (model, klass, len(rs), sum(r.gpus for r in rs), max(r.gpus for r in rs),
             usd(sum(r.value_usd for r in rs)))
            for (model, klass), rs in sorted(groups.items())
        ],
    )  # fmt: skip


SUMMARISE_OVER = 16  # assignments; above this a lease is shown per pod
LEASE_STATE_TEXT = {  # the states LeaseOut.state names, where the word alone is not enough
    "unplaced": "unplaced (tried and did not fit; the operator retries: gpufleet ops place-leases)",
}


def show_lease(lease: LeaseOut) -> None:
    """A lease, its state and where it runs: every node for a small lease, per pod (nodes,
    blocks, GPUs, window) for a large one."""
    show_rentals("Lease", [lease])
    state = LEASE_STATE_TEXT.get(lease.state or "", lease.state or "not placed yet")
    reclaim = f", reclaimed at {fmt(lease.reclaim_at)}" if lease.reclaim_at else ""
    console.print(f"state: {state}{reclaim}; request: {lease.request_id or '—'}", highlight=False)
    rows = lease.assignments
    if not rows:
        return
    if len(rows) <= SUMMARISE_OVER:
        table("Assignments", ["node", "cluster", "pod #", "block #", "GPUs", "start", "end"],
              [(a.node, a.cluster, a.pod, a.block, a.gpus, a.start, a.end)
               for a in rows])  # fmt: skip
        return
    pods: dict[tuple[str, int], list[AssignmentOut]] = defaultdict(list)
    for a in rows:
        pods[(a.cluster, a.pod)].append(a)
    table(
        f"Assignments: {len(rows):,} node-intervals in {len(pods)} pod(s)",
        ["cluster", "pod #", "blocks #", "nodes #", "GPUs", "from", "until"],
        [
            (cluster, pod, len({a.block for a in rs}), len({a.node for a in rs}),
             sum(a.gpus for a in rs), min(a.start for a in rs), max(a.end for a in rs))
            for (cluster, pod), rs in sorted(pods.items())
        ],
    )  # fmt: skip
