"""A time-indexed calendar per node, like Slurm's advance reservations.

Each node keeps the entries that still matter (those not yet over at the engine's clock):
[start, end), the GPUs held (a bit mask), and the holder. `add` refuses any entry whose GPUs
overlap, at overlapping times, those of an entry already there: no GPU is ever in two holds
at once, by construction. Per-node summaries in arrays (live entries, earliest start, latest
end, GPUs in use) let whole-fleet questions ("which nodes are free over [s, e)?") run as
vector operations instead of Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpufleet.domain.errors import Conflict

NEVER = np.iinfo(np.int64).max
NO_TENANT = -1
BULK = 8  # from this many nodes on, set summaries with array operations
MIXED_TENANTS = -2


class DoubleBooking(Conflict):
    """An entry would put a GPU in two holds at overlapping times (a bug, never a user error)."""

    code = "double_booking"


@dataclass(slots=True, eq=False)
class Entry:
    """One node of one hold over [start, end). `hold` is the holder's key in the engine."""

    hold: int
    node: int
    mask: int
    gpus: int
    start: int
    end: int
    tenant: int
    interruptible: bool
    live: bool = False
    pending: bool = False  # starts after the engine's clock (counted as a future entry)


class Calendar:
    """Live entries of every node, with array summaries kept in step on every change."""

    def __init__(self, nodes: int) -> None:
        self._entries: list[list[Entry] | None] = [None] * nodes
        self.nlive = np.zeros(nodes, dtype=np.int32)
        self.busy_from = np.full(nodes, NEVER, dtype=np.int64)
        self.busy_until = np.zeros(nodes, dtype=np.int64)
        self.late_start = np.zeros(nodes, dtype=np.int64)  # latest start of a live entry
        self.early_end = np.zeros(nodes, dtype=np.int64)  # earliest end of a live entry
        self.used = np.zeros(nodes, dtype=np.uint64)
        self.tenant = np.full(nodes, NO_TENANT, dtype=np.int32)  # of all live entries, or MIXED
        self.firm = np.zeros(nodes, dtype=np.int32)  # live entries that are not interruptible
        # Both entries of a node with exactly two (often: one running, one booked after it),
        # so that window questions about such nodes stay array operations.
        self.pair_start = np.zeros((nodes, 2), dtype=np.int64)
        self.pair_end = np.zeros((nodes, 2), dtype=np.int64)
        self.pair_mask = np.zeros((nodes, 2), dtype=np.uint64)
        self.pair_tenant = np.zeros((nodes, 2), dtype=np.int32)

    def entries(self, node: int) -> list[Entry]:
        return self._entries[node] or []

    def add(self, entry: Entry) -> None:
        node = entry.node
        if entry.end <= entry.start or entry.mask == 0:
            raise DoubleBooking(f"empty entry on node {node}")
        held = self._entries[node]
        if held is None:
            held = self._entries[node] = []
        for other in held:
            if other.mask & entry.mask and other.start < entry.end and entry.start < other.end:
                raise DoubleBooking(
                    f"node {node}: GPUs {other.mask & entry.mask:#x} already held by hold "
                    f"{other.hold} over [{other.start}, {other.end})"
                )
        held.append(entry)
        entry.live = True
        self._summarise(node, held)

    def add_many(self, entries: list[Entry]) -> None:
        """Adds every entry or, if one would double-book, none."""
        fresh: list[Entry] = []  # the first entry of an empty node: summaries set in bulk
        try:
            for entry in entries:
                if self._entries[entry.node] is None and entry.end > entry.start and entry.mask:
                    self._entries[entry.node] = [entry]
                    entry.live = True
                    fresh.append(entry)
                else:
                    self.add(entry)
        except DoubleBooking:
            for entry in entries:
                self.remove(entry)
            raise
        # A later entry on the same node went through `add`, which summarised both.
        fresh = [e for e in fresh if len(self._entries[e.node] or ()) == 1]
        if len(fresh) < BULK:  # array calls cost more than a few scalar writes
            for entry in fresh:
                self._summarise(entry.node, [entry])
        else:
            nodes = np.fromiter((e.node for e in fresh), np.int64, len(fresh))
            starts = np.fromiter((e.start for e in fresh), np.int64, len(fresh))
            ends = np.fromiter((e.end for e in fresh), np.int64, len(fresh))
            self.nlive[nodes] = 1
            self.busy_from[nodes] = self.late_start[nodes] = starts
            self.busy_until[nodes] = self.early_end[nodes] = ends
            self.used[nodes] = np.fromiter((e.mask for e in fresh), np.uint64, len(fresh))
            self.tenant[nodes] = np.fromiter((e.tenant for e in fresh), np.int32, len(fresh))
            self.firm[nodes] = np.fromiter(
                (not e.interruptible for e in fresh), np.int32, len(fresh)
            )

    def remove_many(self, entries: list[Entry]) -> None:
        emptied: list[int] = []  # nodes left without entries: summaries reset in bulk
        for entry in entries:
            held = self._entries[entry.node]
            if held is None or not entry.live:
                continue
            entry.live = False
            if len(held) == 1:
                self._entries[entry.node] = None
                emptied.append(entry.node)
            else:
                held.remove(entry)
                self._summarise(entry.node, held)
        if len(emptied) < BULK:
            for node in emptied:
                self._summarise(node, [])
        else:
            nodes = np.array(emptied, dtype=np.int64)
            self.nlive[nodes] = 0
            self.busy_from[nodes] = NEVER
            self.busy_until[nodes] = self.late_start[nodes] = self.early_end[nodes] = 0
            self.used[nodes] = 0
            self.tenant[nodes] = NO_TENANT
            self.firm[nodes] = 0

    def remove(self, entry: Entry) -> None:
        held = self._entries[entry.node]
        if held is None or not entry.live:
            return
        held.remove(entry)
        entry.live = False
        if not held:
            self._entries[entry.node] = None
        self._summarise(entry.node, held)

    def shorten(self, entry: Entry, end: int) -> None:
        """Ends a live entry earlier (never later: that could double-book)."""
        if not entry.start < end <= entry.end:
            raise DoubleBooking(f"cannot move end of [{entry.start}, {entry.end}) to {end}")
        entry.end = end
        held = self._entries[entry.node]
        if held is not None:
            self._summarise(entry.node, held)

    def _summarise(self, node: int, held: list[Entry]) -> None:
        if len(held) == 1:
            only = held[0]
            self.nlive[node] = 1
            self.busy_from[node] = self.late_start[node] = only.start
            self.busy_until[node] = self.early_end[node] = only.end
            self.used[node] = only.mask
            self.tenant[node] = only.tenant
            self.firm[node] = not only.interruptible
            return
        if not held:
            self.nlive[node] = 0
            self.busy_from[node] = NEVER
            self.busy_until[node] = self.late_start[node] = self.early_end[node] = 0
            self.used[node] = 0
            self.tenant[node] = NO_TENANT
            self.firm[node] = 0
            return
        used = firm = 0
        starts, ends, tenants = [], [], set()
        for e in held:
            used |= e.mask
            firm += not e.interruptible
            starts.append(e.start)
            ends.append(e.end)
            tenants.add(e.tenant)
        self.nlive[node] = len(held)
        if len(held) == 2:
            first, second = held
            self.pair_start[node] = (first.start, second.start)
            self.pair_end[node] = (first.end, second.end)
            self.pair_mask[node] = (first.mask, second.mask)
            self.pair_tenant[node] = (first.tenant, second.tenant)
        self.busy_from[node], self.late_start[node] = min(starts), max(starts)
        self.early_end[node], self.busy_until[node] = min(ends), max(ends)
        self.used[node] = used
        self.tenant[node] = tenants.pop() if len(tenants) == 1 else MIXED_TENANTS
        self.firm[node] = firm

    def overlapping(self, node: int, start: int, end: int) -> list[Entry]:
        return [e for e in self.entries(node) if e.start < end and start < e.end]

    def used_over(
        self, node: int, start: int, end: int, ignore: frozenset[int] = frozenset()
    ) -> int:
        """GPUs (mask) of `node` held by anyone but `ignore` at some time in [start, end)."""
        used = 0
        for e in self.entries(node):
            if e.start < end and start < e.end and e.hold not in ignore:
                used |= e.mask
        return used

    def foreign_over(
        self, node: int, start: int, end: int, tenant: int, ignore: frozenset[int] = frozenset()
    ) -> bool:
        """Does another tenant hold anything on `node` at some time in [start, end)?"""
        return any(
            e.tenant != tenant and e.start < end and start < e.end and e.hold not in ignore
            for e in self.entries(node)
        )
