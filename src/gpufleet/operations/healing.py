"""A node that comes back takes back shortfall: when a failure found no replacement, the
engine records the whole rest of the hold's window as shortfall; when a node of the same
model is repaired, or freed by a hold that ended (offered when the simulation next looks: its
next event), the first such hold whose rules it keeps gets it from then on and its shortfall
ends there (firm holds first, the longest first)."""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.domain.fleet import NodeState
from gpufleet.placement import Placer
from gpufleet.placement.bookings import Hold


@dataclass(frozen=True, slots=True)
class Healed:
    holder: str
    tenant: int
    node: int
    gpus: int
    start: int
    end: int
    source: str  # "repaired": the node came back; "freed": a hold on it ended


def heal_with(
    placer: Placer, node: int, at: int, candidates: set[str], source: str = "repaired"
) -> Healed | None:
    """Gives the repaired `node` to one of the `candidates` (holders with shortfall) for the
    rest of one of their shortfall segments; drops candidates with none left."""
    span = placer.topology.model_of_node(node)
    options: list[tuple[bool, int, Hold, int]] = []  # interruptible, -length, hold, segment
    for holder in list(candidates):
        hold = placer.hold(holder)
        open_ = [i for i, (start, end, _) in enumerate(hold.shortfalls)
                 if min(end, hold.end) > max(start, at)]  # fmt: skip
        if not open_:
            candidates.discard(holder)
            continue
        if hold.span != span:
            continue
        for i in open_:
            start, end, _ = hold.shortfalls[i]
            length = min(end, hold.end) - max(start, at)
            options.append((hold.request.interruptible, -length, hold, i))
    options.sort(key=lambda o: (o[0], o[1], o[2].request.holder))
    for _, _, hold, i in options:
        found = _take(placer, hold, node, at, i, source)
        if found is not None:
            return found
    return None


def _take(placer: Placer, hold: Hold, node: int, at: int, i: int, source: str) -> Healed | None:
    b, t, r = placer.bookings, placer.topology, hold.request
    if placer.node_state(node) is not NodeState.UP:
        return None
    start, end, gpus = hold.shortfalls[i]
    begin, end = max(start, at), min(end, hold.end)
    full = hold.span.full_mask
    whole = any(e.mask == full for e in hold.entries) or r.tenant != 0
    mask = full if whole else (1 << gpus) - 1
    if b.spare_block[t.block_of(node)] and r.interruptible:
        return None  # spares replace firm holds only
    if r.contiguous and any(t.pod_of(e.node) != t.pod_of(node) for e in hold.entries):
        return None
    if b.calendar.used_over(node, begin, end) & mask:
        return None
    block = t.block_of(node)
    if any(b.calendar.foreign_over(n, begin, end, r.tenant) for n in t.block_nodes(block)):
        return None
    b.book(hold, [(node, mask, gpus, begin, end)])
    if begin > start:
        hold.shortfalls[i] = (start, begin, gpus)
    else:
        del hold.shortfalls[i]
    return Healed(r.holder, r.tenant, node, gpus, begin, end, source)
