"""The engine's state: holds, node calendars, node states, spares, the free index and the clock.

Every change goes through `book`, `cut`, `end_hold`, `remove_hold`, `set_state` and
`advance`, which keep the calendar, the index, the expiry heaps and each hold's delivery
ledger in step.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gpufleet.domain.errors import InvalidInput, NotFound
from gpufleet.domain.fleet import NodeState
from gpufleet.placement.calendar import Calendar, Entry
from gpufleet.placement.index import FreeIndex
from gpufleet.placement.model import Assignment, Delivery, Request
from gpufleet.placement.topology import ModelSpan, Topology
from gpufleet.placement.views import ExactView, FastView, View

STATE_CODES = {NodeState.UP: 0, NodeState.DRAINING: 1, NodeState.DOWN: 2, NodeState.MAINTENANCE: 3}
STATES = {code: state for state, code in STATE_CODES.items()}


@dataclass(slots=True, eq=False)
class Hold:
    """A lease or job as placed: its entries (past ones too) and its shortfall segments."""

    key: int
    request: Request
    span: ModelSpan
    end: int
    entries: list[Entry] = field(default_factory=list)
    live: int = 0
    shortfalls: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, gpus
    ended: bool = False

    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(Assignment(e.node, e.gpus, e.mask, e.start, e.end) for e in self.entries)

    def delivery(self) -> Delivery:
        r = self.request
        delivered = sum(e.gpus * (e.end - e.start) for e in self.entries)
        short = sum(g * (min(b, self.end) - a) for a, b, g in self.shortfalls if a < self.end)
        return Delivery(r.holder, r.gpus * max(0, self.end - r.start), delivered, short)


class Bookings:
    """All the engine knows, changed only through the methods below."""

    def __init__(self, topology: Topology, spare_share: float = 0.0, clock: int = 0) -> None:
        self.topology = topology
        self.calendar = Calendar(topology.nodes)
        self.state = np.zeros(topology.nodes, dtype=np.int8)
        self.spare_block = spare_blocks(topology, spare_share)
        spares = np.flatnonzero(self.spare_block)
        self.pod_spares: list[list[int]] = [[] for _ in range(topology.pods)]
        for block, pod in zip(spares.tolist(), topology.block_pod[spares].tolist(), strict=True):
            self.pod_spares[pod].append(block)
        self.index = FreeIndex(topology, self.calendar, self.state, self.spare_block)
        # Per model: nodes that are not spares, and the most ordinary blocks of any one pod.
        ordinary = ~self.spare_block
        per_pod = np.zeros(topology.pods + 1, dtype=np.int64)  # ordinary blocks of each pod
        np.add.at(per_pod, topology.block_pod, ordinary)
        node_ok = ordinary[topology.node_block]
        self.ordinary_nodes = [int(node_ok[m.node_lo : m.node_hi].sum()) for m in topology.models]
        self.ordinary_pod_blocks = [
            int(per_pod[m.pod_lo : m.pod_hi].max()) for m in topology.models
        ]
        self.clock = clock
        self.holds: dict[str, Hold] = {}
        self._by_key: dict[int, Hold] = {}
        self._keys = itertools.count()
        self._seq = itertools.count()
        self._ends: list[tuple[int, int, list[Entry]]] = []  # (time, seq, entries)
        self._starts: list[tuple[int, int, list[Entry]]] = []
        self._hold_ends: list[tuple[int, int, Hold]] = []
        self._future = [0] * len(topology.models)  # live entries that start after the clock

    # -- reading ----------------------------------------------------------------------------
    def hold(self, holder: str) -> Hold:
        hold = self.holds.get(holder)
        if hold is None:
            raise NotFound.of("hold", holder)
        return hold

    def hold_of(self, entry: Entry) -> Hold:
        return self._by_key[entry.hold]

    def fast_is_exact(self, span: ModelSpan, start: int) -> bool:
        """Does the index see exactly what is free from `start`? Yes when the window starts at
        the clock and every live entry of the model has started (so overlaps the window)."""
        return start == self.clock and self._future[span.index] == 0

    def view(self, span: ModelSpan, tenant: int, start: int, end: int, exact: bool) -> View:
        if not exact:
            return FastView(self.index, span, tenant)
        dirty = None
        if start == self.clock:  # only blocks with entries that start later can differ
            pending = self.index.block_pending[span.block_lo : span.block_hi]
            dirty = np.flatnonzero(pending).astype(np.int64) + span.block_lo
        return ExactView(self.index, span, tenant, start, end, dirty)

    def view_with_spares(self, span: ModelSpan, tenant: int, start: int, end: int) -> View:
        """Exact over the window, spare blocks counted as ordinary ones (ADR 0011)."""
        return ExactView(self.index, span, tenant, start, end, lift_spares=True)

    def shape_needs_spares(self, span: ModelSpan, request: Request) -> bool:
        """Would `request` fit no fleet of this shape, even an idle one, without spares? A
        lease larger than the model's ordinary nodes, or a contiguous one needing more blocks
        than any pod has that are not spares."""
        nodes = -(-request.gpus // span.gpus_per_node)
        if nodes > self.ordinary_nodes[span.index]:
            return True
        blocks = -(-nodes // span.nodes_per_block)
        return request.contiguous and blocks > self.ordinary_pod_blocks[span.index]

    def spare_gpus_up(self, span: ModelSpan) -> int:
        """GPUs on the model's spare nodes that are up, busy or not: a bound on what lifting
        the spares could add to a view."""
        lo, hi = span.node_lo, span.node_hi
        up = self.index.spare_node[lo:hi] & (self.state[lo:hi] == STATE_CODES[NodeState.UP])
        return int(np.count_nonzero(up)) * span.gpus_per_node

    # -- changing ---------------------------------------------------------------------------
    def open_hold(self, request: Request, span: ModelSpan) -> Hold:
        hold = Hold(next(self._keys), request, span, request.end)
        self.holds[request.holder] = hold
        self._by_key[hold.key] = hold
        heapq.heappush(self._hold_ends, (hold.end, next(self._seq), hold))
        return hold

    def book(self, hold: Hold, picks: Iterable[tuple[int, int, int, int, int]]) -> list[Entry]:
        """Adds entries (node, mask, gpus, start, end) to `hold`; raises DoubleBooking (and
        adds none) if any GPU would be held twice."""
        r = hold.request
        entries = [Entry(hold.key, n, mask, g, s, e, r.tenant, r.interruptible)
                   for n, mask, g, s, e in picks]  # fmt: skip
        self.calendar.add_many(entries)
        hold.entries += entries
        hold.live += len(entries)
        node_block = self.index.node_block
        owners = self.index.tenants_added(r.tenant, [node_block[e.node] for e in entries])
        for end, group in _by_time(entries, lambda e: e.end):
            heapq.heappush(self._ends, (end, next(self._seq), group))
        later = [e for e in entries if e.start > self.clock]
        for entry in later:
            entry.pending = True
            self.index.block_pending[node_block[entry.node]] += 1
        self._future[hold.span.index] += len(later)
        for start, group in _by_time(later, lambda e: e.start):
            heapq.heappush(self._starts, (start, next(self._seq), group))
        self.index.refresh([e.node for e in entries], owners)
        return entries

    def keep_past(self, hold: Hold, picks: Iterable[tuple[int, int, int, int, int]]) -> None:
        """Records entries that are over already (restored history): no calendar, no index."""
        r = hold.request
        hold.entries += [Entry(hold.key, n, mask, g, s, e, r.tenant, r.interruptible)
                         for n, mask, g, s, e in picks]  # fmt: skip

    def forget(self, hold: Hold) -> None:
        """Undoes `open_hold` for a hold that has no entries."""
        assert not hold.entries
        del self.holds[hold.request.holder]
        del self._by_key[hold.key]
        hold.ended = True

    def remove_hold(self, hold: Hold) -> None:
        """Takes `hold` out entirely, as if it had never been placed: its live entries leave
        the calendar and the index (their GPUs are free at once, and the blocks' owners and
        future-entry counts follow), and it is no longer a hold. Its heap items are skipped
        when they come up (entries no longer live, hold ended). Not a release, which keeps
        the past: this is for replacing a hold by what another process stored for it."""
        self._drop(hold.entries)
        del self.holds[hold.request.holder]
        del self._by_key[hold.key]
        hold.ended = True

    def cut(self, entry: Entry, at: int) -> None:
        """Ends `entry` at `at`: forgets it if it had not started, else keeps its past."""
        hold = self._by_key[entry.hold]
        self._drop(self._cut([entry], at, hold))

    def end_hold(self, hold: Hold, at: int) -> None:
        """The hold ends at `at` (release or preemption): entries and promise end there."""
        self._drop(self._cut(hold.entries, at, hold))
        hold.end = max(hold.request.start, min(hold.end, at))
        heapq.heappush(self._hold_ends, (hold.end, next(self._seq), hold))

    def _cut(self, entries: list[Entry], at: int, hold: Hold) -> list[Entry]:
        """Cuts entries of `hold` at `at`; returns those that must leave the calendar. Entries
        that had not started are forgotten; the past of the others stays on record."""
        gone: list[Entry] = []
        forgotten: set[int] = set()
        for entry in entries:
            if at >= entry.end:
                continue
            if at > entry.start and at > self.clock:
                self.calendar.shorten(entry, at)
                heapq.heappush(self._ends, (at, next(self._seq), [entry]))
                continue
            if at <= entry.start:
                forgotten.add(id(entry))
            else:
                entry.end = at
            gone.append(entry)
        if forgotten:
            hold.entries = [e for e in hold.entries if id(e) not in forgotten]
        return gone

    def set_state(self, node: int, state: NodeState) -> None:
        self.state[node] = STATE_CODES[state]
        self.index.refresh([node], set())

    def advance(self, to: int) -> list[str]:
        """Moves the clock to `to`, retiring entries that are over; returns the holders whose
        holds ended on the way."""
        if to < self.clock:
            raise InvalidInput(f"the placement clock is at {self.clock}; cannot go back to {to}")
        while self._starts and self._starts[0][0] <= to:
            for entry in heapq.heappop(self._starts)[2]:
                self._started(entry)
        over = []
        while self._ends and self._ends[0][0] <= to:
            end, _, group = heapq.heappop(self._ends)
            over += [e for e in group if e.live and e.end == end]
        self._drop(over)
        self.clock = to
        ended = []
        while self._hold_ends and self._hold_ends[0][0] <= to:
            end, _, hold = heapq.heappop(self._hold_ends)
            if not hold.ended and hold.end == end:
                hold.ended = True
                ended.append(hold.request.holder)
        return ended

    def _drop(self, entries: list[Entry]) -> None:
        """Takes live entries out of the calendar and the index (their records stay)."""
        entries = [e for e in entries if e.live]
        if not entries:
            return
        self.calendar.remove_many(entries)
        node_block = self.index.node_block
        owners: set[int] = set()
        for entry in entries:
            hold = self._by_key[entry.hold]
            hold.live -= 1
            self._started(entry)
            if self.index.tenant_removed(node_block[entry.node], entry.tenant):
                owners.add(node_block[entry.node])
        self.index.refresh([e.node for e in entries], owners)

    def _started(self, entry: Entry) -> None:
        """The entry no longer starts after the clock (it started, or it is gone)."""
        if entry.pending:
            entry.pending = False
            self._future[self._by_key[entry.hold].span.index] -= 1
            self.index.block_pending[self.index.node_block[entry.node]] -= 1


def _by_time(
    entries: list[Entry], when: Callable[[Entry], int]
) -> Iterator[tuple[int, list[Entry]]]:
    """Entries grouped by a time (one heap item per group: a lease's nodes end together)."""
    groups: dict[int, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(when(entry), []).append(entry)
    return iter(groups.items())


def spare_blocks(topology: Topology, share: float) -> npt.NDArray[np.bool_]:
    """The last ⌈share × blocks⌉ blocks of every pod, kept for replacements only."""
    if not 0.0 <= share < 1.0:
        raise InvalidInput("spare_share must be in [0, 1)")
    spare = np.zeros(topology.blocks, dtype=np.bool_)
    if share == 0.0:
        return spare
    for pod in range(topology.pods):
        blocks = topology.pod_blocks(pod)
        count = min(len(blocks) - 1, math.ceil(share * len(blocks)))
        if count > 0:
            spare[blocks.stop - count : blocks.stop] = True
    return spare
