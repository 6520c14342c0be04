"""Node failures and repairs: every affected hold gets a replacement or a recorded shortfall.

For each entry on the failed node still to be served over [max(t, start), end), in order
(firm holds first, then interruptible ones, earliest start first):

1. a spare of the same pod (firm holds only; spares are the pod's `spare_share` of blocks);
2. else an idle node that keeps the hold's rules: the same block, then the same pod, then
   (unless the hold is contiguous) any pod — free over the window, in a block no other
   tenant uses then, whole if the hold had the whole node;
3. else (firm holds only) a node taken from interruptible holds: each victim gets a notice
   and keeps everything until reclaim_at = t + its notice_hours; the hold gets the node from
   then, and the time before is shortfall;
4. else the whole remaining window is shortfall, in GPU-hours against the hold.
"""

from __future__ import annotations

import numpy as np

from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.fleet import NodeState
from gpufleet.placement.bookings import Bookings, Hold
from gpufleet.placement.index import UP
from gpufleet.placement.model import (
    HOUR,
    FailureOutcome,
    PreemptionNotice,
    Replaced,
    ReplacementSource,
    Shortfall,
)
from gpufleet.placement.placer import Placer, lowest_bits
from gpufleet.placement.select import whole_nodes
from gpufleet.placement.views import View

RECLAIM_CANDIDATES = 32  # nodes of interruptible holds examined per replacement


def set_node_state(placer: Placer, node: int, state: NodeState, at: int) -> FailureOutcome:
    """An operator's or the cluster's word on a node at `at` (moves the clock there). DOWN and
    MAINTENANCE move the node's holds elsewhere; UP and DRAINING keep them."""
    if state in (NodeState.DOWN, NodeState.MAINTENANCE):
        return fail_node(placer, node, at, state)
    placer.advance(at)
    placer.bookings.set_state(node, state)
    return FailureOutcome(node, at, (), (), ())


def fail_node(
    placer: Placer, node: int, at: int, state: NodeState = NodeState.DOWN
) -> FailureOutcome:
    """`node` fails at `at` (≥ the clock; the clock moves there: call `advance` first to
    hear which holds end on the way). Every hold on it from then on gets a replacement, a
    shortfall, or both (replaced after a preemption notice); see the module docstring."""
    b = placer.bookings
    if not 0 <= node < placer.topology.nodes:
        raise InvalidInput(f"no node {node}")
    placer.advance(at)
    hit = sorted(b.calendar.entries(node), key=lambda e: (e.interruptible, e.start, e.hold))
    work = [(b.hold_of(e), max(at, e.start), e.end, e.mask, e.gpus) for e in hit]
    for entry in hit:
        b.cut(entry, at)
    b.set_state(node, state)
    replaced: list[Replaced] = []
    notices: list[PreemptionNotice] = []
    shortfalls: list[Shortfall] = []
    for hold, start, end, mask, gpus in work:
        end = min(end, hold.end)  # a victim of an earlier reclaim ends sooner
        if end <= start:
            continue
        tenant = hold.request.tenant
        found = _spare(b, hold, node, start, end, mask)
        source = ReplacementSource.SPARE
        if found is None:
            found, source = _idle(b, hold, node, start, end, mask), ReplacementSource.IDLE
        begin = start
        if found is None and not hold.request.interruptible:
            reclaimed = _reclaim(b, hold, node, at, start, end, mask)
            if reclaimed is not None:
                found, begin, taken = reclaimed
                notices += taken
                source = ReplacementSource.RECLAIMED
        if found is not None:
            spot, held = found
            b.book(hold, [(spot, held, gpus, begin, end)])
            replaced.append(Replaced(hold.request.holder, tenant, node, spot, gpus, begin, end,
                                     source))  # fmt: skip
        else:
            begin = end
        if begin > start:
            hold.shortfalls.append((start, begin, gpus))
            shortfalls.append(Shortfall(hold.request.holder, tenant, node, gpus, start, begin))
    return FailureOutcome(node, at, tuple(replaced), tuple(notices), tuple(shortfalls))


def _fits(b: Bookings, node: int, start: int, end: int, mask: int, ignore: frozenset[int]) -> int:
    """The GPU mask `node` can give over [start, end) for an entry like `mask`, or 0."""
    full = b.topology.model_of_node(node).full_mask
    if b.state[node] != UP:
        return 0
    free = full & ~b.calendar.used_over(node, start, end, ignore)
    if mask == full:
        return full if free == full else 0
    want = mask.bit_count()
    return lowest_bits(free, want) if free.bit_count() >= want else 0


def _block_ok(
    b: Bookings, block: int, tenant: int, start: int, end: int, ignore: frozenset[int] = frozenset()
) -> bool:
    cal = b.calendar
    return not any(
        cal.foreign_over(n, start, end, tenant, ignore) for n in b.topology.block_nodes(block)
    )


def _spare(
    b: Bookings, hold: Hold, failed: int, start: int, end: int, mask: int
) -> tuple[int, int] | None:
    if hold.request.interruptible:
        return None
    t, tenant = b.topology, hold.request.tenant
    spares = sorted(b.pod_spares[t.pod_of(failed)], key=lambda x: b.index.block_owner[x] != tenant)
    for block in spares:  # its own spare blocks first
        if not _block_ok(b, block, tenant, start, end):
            continue
        for node in t.block_nodes(block):
            held = _fits(b, node, start, end, mask, frozenset())
            if held:
                return node, held
    return None


def _idle(
    b: Bookings, hold: Hold, failed: int, start: int, end: int, mask: int
) -> tuple[int, int] | None:
    t, r = b.topology, hold.request
    block = t.block_of(failed)
    if not b.spare_block[block] and _block_ok(b, block, r.tenant, start, end):
        for node in t.block_nodes(block):
            held = _fits(b, node, start, end, mask, frozenset()) if node != failed else 0
            if held:
                return node, held
    exact = b.fast_is_exact(hold.span, start)
    for precise in (False, True) if not exact else (False,):
        view = b.view(hold.span, r.tenant, start, end, exact=precise)
        for pod in (t.pod_of(failed), None) if not r.contiguous else (t.pod_of(failed),):
            found = _one_node(view, pod, mask)
            if found is not None:
                return found
    return None


def _one_node(view: View, pod: int | None, mask: int) -> tuple[int, int] | None:
    full = view.span.full_mask
    if mask != full:
        shared = view.shared_node(mask.bit_count())
        if shared is not None:
            return shared[0], lowest_bits(shared[1], mask.bit_count())
    if pod is None:
        nodes = whole_nodes(view, 1, False)
        return None if nodes is None else (nodes[0], mask)
    block = view.partial_block(1, pod)
    if block is None and view.pod_empties()[pod - view.span.pod_lo] > 0:
        block = view.empty_blocks(pod, 1)[0]
    return None if block is None else (view.free_nodes(block, 1)[0], mask)


def _reclaim(
    b: Bookings, hold: Hold, failed: int, at: int, start: int, end: int, mask: int
) -> tuple[tuple[int, int], int, list[PreemptionNotice]] | None:
    """The interruptible node whose holds can be reclaimed soonest, with their notices."""
    t, cal, r = b.topology, b.calendar, hold.request
    pod = t.pod_of(failed)
    ranges = [t.pod_nodes(pod)]
    if not r.contiguous:
        ranges.append(range(hold.span.node_lo, hold.span.node_hi))
    best: tuple[int, int, int, int, list[Hold]] | None = None  # begin, gpus, node, mask, victims
    for nodes in ranges:
        lo, hi = nodes.start, nodes.stop
        ok = (cal.nlive[lo:hi] > 0) & (cal.firm[lo:hi] == 0) & (b.state[lo:hi] == UP)
        ok &= ~b.index.spare_node[lo:hi]
        for node in (np.flatnonzero(ok)[:RECLAIM_CANDIDATES] + lo).tolist():
            victims = {b.hold_of(e).key: b.hold_of(e) for e in cal.overlapping(node, start, end)}
            begin = max(start, at + HOUR * max((v.request.notice_hours for v in victims.values()),
                                               default=0))  # fmt: skip
            if begin >= end or (best is not None and begin > best[0]):
                continue
            ignore = frozenset(victims)
            held = _fits(b, node, begin, end, mask, ignore)
            if not held or not _block_ok(b, t.block_of(node), r.tenant, begin, end, ignore):
                continue
            gpus = sum(v.request.gpus for v in victims.values())
            if best is None or (begin, gpus) < best[:2]:
                best = (begin, gpus, node, held, list(victims.values()))
        if best is not None:
            break
    if best is None:
        return None
    begin, _, node, held, chosen = best
    notices = []
    for v in chosen:
        reclaim_at = at + HOUR * v.request.notice_hours
        notices.append(PreemptionNotice(
            v.request.holder, v.request.tenant, at, reclaim_at, r.holder,
            tuple(dict.fromkeys(e.node for e in v.entries if e.end > reclaim_at)),
            f"node {t.node_name(failed)} of {r.holder} failed and no spare or idle node keeps "
            f"its rules; {t.node_name(node)} holds only interruptible work and can be "
            f"reclaimed soonest ({len(chosen)} hold(s), {begin - at}s after notice)",
        ))  # fmt: skip
        b.end_hold(v, reclaim_at)
    return (node, held), begin, notices
