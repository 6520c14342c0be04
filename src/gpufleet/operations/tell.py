"""Events of the simulation, each for the one tenant it concerns (the operator sees all).

Data explains itself: times as ISO 8601 UTC, node names as in the fleet tables, GPU-hours.
A tenant's event never names another tenant's lease: a preemption notice says why its nodes
were chosen, not for whom.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.operations.healing import Healed
from gpufleet.operations.records import OPERATOR_ONLY, SimEvent
from gpufleet.placement import HOUR, FailureOutcome, HoldKind, Placer


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def told(placer: Placer, holder: str) -> bool:
    """Experiments are counted, not told: the lab's own small jobs number thousands a day."""
    return placer.hold(holder).request.kind != HoldKind.EXPERIMENT


def failure_events(placer: Placer, outcome: FailureOutcome, repair_at: int | None,
                   affected: list[str], reason: str) -> list[SimEvent]:  # fmt: skip
    t, at = placer.topology, outcome.at
    failed = t.node_name(outcome.node)
    out = [SimEvent(at, "node.failed", failed, OPERATOR_ONLY, {
        "node": failed, "reason": reason,
        "repair_expected_at": iso(repair_at) if repair_at is not None else None,
        "holds_affected": affected,
        "replaced": [{"holder": r.holder, "node": t.node_name(r.node), "source": r.source.value,
                      "from": iso(r.start)} for r in outcome.replaced],
        "shortfall_gpu_hours": round(sum(s.gpu_hours for s in outcome.shortfalls), 3),
        "preemption_notices": [{"victim": n.victim, "for": n.for_holder,
                                "reclaim_at": iso(n.reclaim_at), "why": n.reason}
                               for n in outcome.notices],
    })]  # fmt: skip
    for r in outcome.replaced:
        if told(placer, r.holder):
            out.append(SimEvent(at, "lease.node_replaced", r.holder, r.tenant, {
                "failed_node": failed, "node": t.node_name(r.node), "gpus": r.gpus,
                "from": iso(r.start), "until": iso(r.end), "source": r.source.value,
                "delay_hours": round((r.start - at) / HOUR, 3),
            }))  # fmt: skip
    for s in outcome.shortfalls:
        if told(placer, s.holder):
            out.append(SimEvent(at, "lease.degraded", s.holder, s.tenant, {
                "failed_node": failed, "gpus_missing": s.gpus,
                "from": iso(s.start), "until": iso(s.end),
                "why": "no spare, idle or reclaimable node keeps the lease's rules"
                if s.end == placer.hold(s.holder).end or not _replaced(outcome, s.holder)
                else "a replacement node is reclaimed from interruptible work after its notice",
            }))  # fmt: skip
            out.append(SimEvent(at, "sla.shortfall", s.holder, s.tenant, {
                "gpus": s.gpus, "from": iso(s.start), "until": iso(s.end),
                "gpu_hours": round(s.gpu_hours, 6),
            }))  # fmt: skip
    for n in outcome.notices:
        if told(placer, n.victim):
            hold = placer.hold(n.victim)
            out.append(SimEvent(at, "lease.preemption_notice", n.victim, n.tenant, {
                "notice_at": iso(n.notice_at), "reclaim_at": iso(n.reclaim_at),
                "notice_hours": hold.request.notice_hours,
                "nodes": [t.node_name(x) for x in n.nodes],
                "why": "a reserved lease lost a node to a failure and no spare or idle node "
                       "kept its rules; your nodes hold only interruptible work and could be "
                       "reclaimed soonest, after your contractual notice",
            }))  # fmt: skip
    return out


def healed_event(placer: Placer, healed: Healed) -> SimEvent:
    node = placer.topology.node_name(healed.node)
    return SimEvent(healed.start, "lease.node_replaced", healed.holder, healed.tenant, {
        "node": node, "gpus": healed.gpus, "from": iso(healed.start), "until": iso(healed.end),
        "source": healed.source,
        "shortfall_ended_gpu_hours": round(healed.gpus * (healed.end - healed.start) / HOUR, 3),
    })  # fmt: skip


def _replaced(outcome: FailureOutcome, holder: str) -> bool:
    return any(r.holder == holder for r in outcome.replaced)


def lifecycle_event(
    placer: Placer, holder: str, kind: str, at: int, notice_at: int | None = None
) -> SimEvent:
    hold = placer.hold(holder)
    r = hold.request
    data: dict[str, object] = {"gpu_model": r.gpu_model, "gpus": r.gpus,
                               "start": iso(r.start), "end": iso(r.end)}  # fmt: skip
    if kind == "lease.started":
        live = {e.node for e in hold.entries if e.start <= at < e.end}
        data["nodes"] = len(live)
    if kind == "lease.preempted":
        data["preempted_at"] = iso(at)
        data["notice_at"] = iso(notice_at) if notice_at is not None else None
        data["notice_hours"] = r.notice_hours
    return SimEvent(at, kind, holder, r.tenant, data)
