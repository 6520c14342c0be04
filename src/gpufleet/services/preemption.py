"""Preemption with notice when a firm request does not fit: interruptible holds of the same
GPU model over the window are reclaimed, each after its contractual notice, until the
request fits.

Victims, in order: the lab's experiments (lowest priority), then interruptible leases from the
lowest price per GPU-hour up, later starts first among equals. Only a hold whose notice ends
by the request's start can help (reclaim_at = now + notice_hours ≤ start); others are left
alone. Victims are taken one at a time and the request is retried after each, so a victim is
preempted only while the request still does not fit; the ones taken before the last may not
all have been needed in the end (the engine cannot say which subset is the smallest).
Nothing is touched when preemption cannot help (the free GPUs and every eligible victim's are
fewer than asked, or a contiguous request is larger than any pod); when it was tried and all
eligible victims were still not enough, the request is refused: the victims are put back into
the engine as stored (nothing was written for them), so the process keeps its engine rather
than rebuilding it (seconds on a large fleet) for its next decision.

Spare blocks come last (ADR 0011): the retries here leave them alone; when preemption cannot
help, or every eligible victim was not enough, the request is tried once more as the engine
places by default (on spare blocks if its shape needs them: a contiguous lease of a whole
pod), and only that failing is a refusal.
"""

from __future__ import annotations

from dataclasses import replace

from gpufleet.adapters.db.repos import events
from gpufleet.adapters.db.repos import lease_placement as leases_repo
from gpufleet.adapters.db.repos.placement import at
from gpufleet.domain.events import NewEvent
from gpufleet.domain.money import micros_to_float_usd
from gpufleet.domain.timeutil import format_instant
from gpufleet.placement import (
    HOUR,
    HoldKind,
    Placement,
    PreemptionNotice,
    Refusal,
    RefusalReason,
    Request,
    SpareUse,
    seconds,
)
from gpufleet.placement.bookings import Hold
from gpufleet.services.placement import PlacementSession
from gpufleet.services.placement_load import reload_holds


def preempt_for(
    s: PlacementSession, request: Request, refusal: Refusal
) -> tuple[Placement | Refusal | None, tuple[PreemptionNotice, ...]]:
    """Places `request` by reclaiming interruptible holds with notice, writing the notices
    (events, leases.reclaim_at), else on spare blocks (a firm lease; see the module
    docstring); (None, ()) when neither places it and no hold was touched; a Refusal, the
    engine as it was and nothing written, when reclaiming every eligible hold is not enough."""
    if refusal.reason == RefusalReason.UNKNOWN_MODEL:
        return None, ()
    base = max(s.clock, seconds(s.now))
    victims = _victims(s, request, base)
    reclaimable = sum(h.request.gpus for h, _ in victims)
    if refusal.free_gpus + reclaimable < request.gpus or not _fits_a_pod(s, request):
        on_spares = s.placer.place(request)  # preempting cannot help: spares, else nothing
        return (on_spares if isinstance(on_spares, Placement) else None), ()
    notices: list[PreemptionNotice] = []
    for hold, price in victims:
        v = hold.request
        reclaim_at = base + HOUR * v.notice_hours
        nodes = tuple(dict.fromkeys(e.node for e in hold.entries if e.end > reclaim_at))
        s.placer.release(v.holder, reclaim_at)
        notices.append(PreemptionNotice(v.holder, v.tenant, base, reclaim_at, request.holder,
                                        nodes, _reason(request, v, price)))  # fmt: skip
        placed = s.placer.place(request, spares=SpareUse.NEVER)
        if isinstance(placed, Placement):
            _tell(s, notices)
            return placed, tuple(notices)
    placed = s.placer.place(request)  # every victim and the spares together
    if isinstance(placed, Placement):
        _tell(s, notices)
        return placed, tuple(notices)
    reload_holds(s.conn, s.fleet, s.placer, [hold.request.holder for hold, _ in victims])
    message = (
        f"{refusal.message}; reclaiming all {len(victims)} interruptible hold(s) whose notice "
        "ends before the start would not free enough either"
    )
    return replace(refusal, message=message), ()


def _fits_a_pod(s: PlacementSession, request: Request) -> bool:
    """Could a contiguous request fit in some pod's blocks that are not spares at all?"""
    if not request.contiguous:
        return True
    t, spare = s.placer.topology, s.placer.bookings.spare_block
    span = t.model(request.gpu_model)
    assert span is not None
    per_block = span.nodes_per_block * span.gpus_per_node
    usable = (sum(not spare[b] for b in t.pod_blocks(p)) for p in range(span.pod_lo, span.pod_hi))
    return max(usable, default=0) * per_block >= request.gpus


def _victims(s: PlacementSession, request: Request, base: int) -> list[tuple[Hold, int | None]]:
    """Interruptible holds of the model over the window that notice lets go by its start."""
    found = []
    for holder in s.placer.holders():
        hold = s.placer.hold(holder)
        v = hold.request
        if not v.interruptible or hold.ended or v.gpu_model != request.gpu_model:
            continue
        if hold.end <= max(request.start, base) or v.start >= request.end:
            continue
        if base + HOUR * v.notice_hours > request.start or hold.live == 0:
            continue
        found.append(hold)
    prices = leases_repo.prices(s.conn, [h.request.holder for h in found
                                         if h.request.kind == HoldKind.LEASE])  # fmt: skip
    ranked = [(h, prices.get(h.request.holder)) for h in found]
    ranked.sort(key=lambda hp: (hp[1] is not None, hp[1] or 0, -hp[0].request.start))
    return ranked


def _reason(request: Request, victim: Request, price: int | None) -> str:
    need = "a reserved lease" if request.kind == HoldKind.LEASE else "an internal program"
    why = ("the lab's experiments yield first" if price is None else
           f"interruptible leases are reclaimed from the lowest price per GPU-hour up "
           f"(this one: ${micros_to_float_usd(price):.2f})")  # fmt: skip
    return (
        f"{need} needs {request.gpus} {request.gpu_model} GPUs from "
        f"{format_instant(at(request.start))} and no free capacity keeps its rules; {why}; "
        f"your notice of {victim.notice_hours} h is honoured"
    )


def _tell(s: PlacementSession, notices: list[PreemptionNotice]) -> None:
    news = []
    for n in notices:
        tenant = n.tenant or None  # the lab's jobs: the operator's events
        if tenant is not None:
            leases_repo.set_lease_state(s.conn, n.victim, reclaim_at=at(n.reclaim_at))
        news.append(NewEvent("lease.preemption_notice" if tenant else "job.preemption_notice",
                             n.victim, tenant, {
            "reclaim_at": format_instant(at(n.reclaim_at)),
            "notice_at": format_instant(at(n.notice_at)),
            "nodes": len(n.nodes), "reason": n.reason,
        }))  # fmt: skip
    events.append(s.conn, news, s.now)
