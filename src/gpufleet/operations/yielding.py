"""Experiments yield to everything else: room for a request that the lab's experiments stand
in the way of.

    result, dropped = place_yielding(placer, request)
    session.save([request.holder, *dropped])   # the dropped experiments end at the clock

An experiment is the lowest priority: when a lease or training job does not fit, the
experiments of its GPU model overlapping its window are stopped at the clock, the request is
placed, and those that still fit elsewhere come back at once under a new name (`~y`), so only
the ones really in the way are lost. Nothing is dropped when even that would not be enough.
"""

from __future__ import annotations

from gpufleet.placement import HoldKind, Placement, Placer, Refusal, RefusalReason, Request


def place_yielding(placer: Placer, request: Request) -> tuple[Placement | Refusal, list[str]]:
    """Places `request`, stopping experiments in its way if needed; returns the result and
    every holder it changed besides the request's own (stopped experiments, their restarts)."""
    first = placer.place(request)
    if isinstance(first, Placement) or request.kind == HoldKind.EXPERIMENT:
        return first, []
    if first.reason == RefusalReason.UNKNOWN_MODEL:
        return first, []
    clock = placer.clock
    in_way = []
    freeable = 0
    for holder in placer.holders():
        hold = placer.hold(holder)
        r = hold.request
        same = r.kind == HoldKind.EXPERIMENT and r.gpu_model == request.gpu_model
        if same and r.start < request.end and hold.end > max(request.start, clock):
            in_way.append(holder)
            freeable += sum(e.mask.bit_count() for e in hold.entries if e.end > clock)
    if not in_way or first.free_gpus + freeable < request.gpus:
        return first, []
    for holder in in_way:
        placer.release(holder, at=clock)
    result = placer.place(request)
    changed = list(in_way)
    for holder in in_way:
        old = placer.hold(holder).request
        start = max(old.start, clock)
        if old.end <= start:
            continue
        again = Request.experiment(f"{holder}~y", old.gpu_model, old.gpus, start, old.end)
        if again.holder not in placer.bookings.holds and isinstance(placer.place(again), Placement):
            changed.append(again.holder)
    return result, changed
