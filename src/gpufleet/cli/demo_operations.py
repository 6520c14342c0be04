"""The demo's last act: the accepted contracts on concrete nodes, then a few simulated weeks
of failures, repairs and the lab's experiments, in memory (the same engine and simulation
that `gpufleet ops run` drives on a server)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gpufleet.cli.output import console, table
from gpufleet.operations import (
    ExperimentSettings,
    ExperimentStream,
    HourUsage,
    Simulator,
    Totals,
    busiest_model,
    experiment_trace,
    hourly_usage,
    online_windows,
)
from gpufleet.operations.tell import iso
from gpufleet.placement import HOUR, Placement, Placer, Request, Topology, seconds
from gpufleet.planning.scenario import Rental, Scenario

WEEK = 7 * 24 * HOUR


@dataclass
class OperationsDemo:
    start: int
    end: int
    contracts: int
    placed: int
    refused: dict[str, list[str]]  # reason → contract ids
    experiment_model: str
    experiment_copies: int
    experiment_trace: str  # which trace was replayed (its label)
    totals: Totals
    replaced_by: dict[str, int]
    notices: list[dict[str, Any]] = field(default_factory=list)
    shortfall_leases: list[tuple[str, float]] = field(default_factory=list)
    usage_rows: int = 0
    usage_balanced: bool = True
    seconds: float = 0.0
    # The metered hours themselves, for the billing act (not in the JSON: `usage_rows` is).
    usage: list[HourUsage] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": {"start": iso(self.start), "end": iso(self.end)},
            "contracts": self.contracts, "placed": self.placed, "refused": self.refused,
            "experiment_model": self.experiment_model,
            "experiment_copies": self.experiment_copies,
            "experiment_trace": self.experiment_trace,
            "totals": self.totals.to_dict(), "replaced_by": self.replaced_by,
            "preemption_notices": self.notices,
            "shortfall_gpu_hours_by_lease": dict(self.shortfall_leases),
            "lease_usage_hours": self.usage_rows, "usage_balanced": self.usage_balanced,
            "seconds": round(self.seconds, 2),
        }  # fmt: skip


def simulate_weeks(
    scenario: Scenario,
    accepted_ids: Iterable[str],
    *,
    weeks: int = 3,
    copies: int = 4,
    seed: int = 1,
    quiet: bool = False,
    whole_month: bool = False,
) -> OperationsDemo:
    """Places the signed leases and the plan's accepted requests from the horizon's start,
    then simulates `weeks` from the week when the most contracted GPUs are running — or, with
    `whole_month`, the calendar month around that week, so that billing can close a month
    that was simulated from its first hour to its last."""
    began = time.perf_counter()
    accepted = set(accepted_ids)
    contracts = [*scenario.leases, *(r for r in scenario.rental_requests if r.id in accepted)]
    topology = Topology(scenario.clusters)
    first = seconds(scenario.horizon.start)
    placer = Placer(topology, spare_share=0.02, clock=first)
    tenants: dict[str, int] = {}
    refused: dict[str, list[str]] = {}
    for c in sorted(contracts, key=lambda c: (c.start, c.id)):
        tenant = tenants.setdefault(c.customer, len(tenants) + 1)
        result = placer.place(Request.lease(c.id, tenant, c))
        if not isinstance(result, Placement):
            refused.setdefault(result.reason.value, []).append(c.id)
    start = _busiest_week(contracts, first, scenario.horizon.periods)
    end = start + weeks * WEEK
    if whole_month:
        start, end = _calendar_month(start, not_before=first)
    placer.advance(start)
    model = busiest_model(topology, scenario.clusters, start)
    trace = experiment_trace()
    stream = ExperimentStream(trace.jobs, start, copies=copies, seed=seed, period=trace.period)
    sim = Simulator(placer, seed=seed, experiments=ExperimentSettings(stream, model),
                    online=online_windows(topology, scenario.clusters))  # fmt: skip
    columns = (TextColumn("simulating {task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task(f"{weeks} weeks", total=end - start)
        chunk = sim.run(end, lambda at: bar.update(task, completed=at - start))
    usage = hourly_usage(placer, start, end)
    short: dict[str, float] = {}  # as metered for billing over the simulated weeks
    for u in usage:
        if u.shortfall:
            short[u.holder] = short.get(u.holder, 0.0) + u.shortfall / HOUR
    notices = [
        {"lease": e.subject, "at": iso(e.at), "reclaim_at": e.data["reclaim_at"],
         "notice_hours": e.data["notice_hours"]}
        for e in chunk.events if e.kind == "lease.preemption_notice"
    ]  # fmt: skip
    replaced = Counter(r.source.value for f in chunk.failures for r in f.outcome.replaced)
    return OperationsDemo(
        start, end, len(contracts), len(contracts) - sum(map(len, refused.values())), refused,
        model, copies, trace.label, sim.totals, dict(replaced), notices,
        [(k, round(v, 1)) for k, v in sorted(short.items(), key=lambda kv: -kv[1])], len(usage),
        all(u.promised == u.delivered + u.shortfall for u in usage), time.perf_counter() - began,
        usage,
    )  # fmt: skip


def _busiest_week(contracts: list[Rental], first: int, weeks: int) -> int:
    """The start of the horizon's week with the most contracted GPUs running."""

    def running(t: int) -> int:
        return sum(c.gpus for c in contracts if seconds(c.start) <= t < seconds(c.end))

    return max((first + w * WEEK for w in range(weeks)), key=running)


def _calendar_month(t: int, not_before: int) -> tuple[int, int]:
    """The calendar month (UTC) that holds `t`, from no earlier than `not_before`."""
    day = datetime.fromtimestamp(t, UTC)
    first = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return max(seconds(first), not_before), seconds(following)


def show_operations(demo: OperationsDemo) -> None:
    t = demo.totals
    console.rule("Operations: the contracts on concrete nodes, then weeks of failures")
    console.print(
        f"Placed {demo.placed} of {demo.contracts} contracts (signed leases and the plan's "
        f"accepted requests) on concrete nodes, 2% of every pod kept as spares.", highlight=False,
    )  # fmt: skip
    for reason, ids in demo.refused.items():
        shown = ", ".join(ids[:4]) + (", …" if len(ids) > 4 else "")
        text = f"  refused, {reason.replace('_', ' ')}: {len(ids)} ({shown})"
        console.print(text, highlight=False)
    console.print(
        f"Simulated {iso(demo.start)[:10]} to {iso(demo.end)[:10]} (around the busiest week), "
        f"failures at Llama 3's rate, the lab's Philly experiments ×{demo.experiment_copies} "
        f"on {demo.experiment_model}, in {demo.seconds:.1f} s:", highlight=False,
    )  # fmt: skip
    by = demo.replaced_by
    metered_short = sum(hours for _, hours in demo.shortfall_leases)
    table(None, ["what", "figure"], [
        ("utilisation (busy / online GPU-hours)", f"{t.utilisation:.1%}"),
        ("node failures / repairs", f"{t.failures:,} / {t.repairs:,}"),
        ("replacement nodes: spare / idle / reclaimed",
         f"{by.get('spare', 0):,} / {by.get('idle', 0):,} / {by.get('reclaimed', 0):,}"),
        ("preemption notices / preemptions", f"{t.notices:,} / {t.preemptions:,}"),
        ("shortfalls / ended early by a node coming back", f"{t.shortfalls:,} / {t.healed:,}"),
        ("GPU-hours short in these weeks (billing credits them)", f"{metered_short:,.0f}"),
        ("leases started / ended", f"{t.leases_started:,} / {t.leases_ended:,}"),
        ("experiments placed / refused (of them fragmented)",
         f"{t.experiments_placed:,} / {t.experiments_refused:,} "
         f"({t.experiments_refused_fragmented:,})"),
        ("lease-hours metered, promised = delivered + shortfall",
         f"{demo.usage_rows:,}, {'all balanced' if demo.usage_balanced else 'NOT BALANCED'}"),
    ])  # fmt: skip
    for lease, hours in demo.shortfall_leases[:5]:
        console.print(f"  {lease}: {hours:,.1f} GPU-hours short", highlight=False)
    console.print(f"Experiments replayed from {demo.experiment_trace}", highlight=False)
