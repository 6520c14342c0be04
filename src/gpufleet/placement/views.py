"""Two views of the capacity one tenant may use, for one GPU model and one window.

`FastView` reads the incremental index (microseconds; exact for a window that starts at the
clock when every live entry has started, safe otherwise). `ExactView` is exact for any
window: it takes the index for the blocks the index sees exactly and computes the others
("dirty": for a window from the clock, the blocks holding entries that start later; else all)
node by node with array operations. The selection in `select.py` asks either the same
questions.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from gpufleet.placement.index import EMPTY, UP, FreeIndex
from gpufleet.placement.topology import ModelSpan

I32 = npt.NDArray[np.int32]


class View(Protocol):
    span: ModelSpan
    tenant: int

    def pod_empties(self) -> I32:
        """Empty blocks (all nodes free, no other tenant) of each pod of the model."""

    def partial_block(self, need: int, pod: int | None) -> int | None:
        """The not-empty block with the fewest free nodes ≥ need that the tenant may use."""

    def empty_blocks(self, pod: int, count: int) -> list[int]: ...

    def free_nodes(self, block: int, count: int) -> list[int]: ...

    def shared_node(self, gpus: int) -> tuple[int, int] | None:
        """(node, free GPU mask) of the fullest node shared by experiments with ≥ gpus free."""

    def free_gpus(self) -> int:
        """GPUs of the model free over the window, whatever the rules."""


class FastView:
    def __init__(self, index: FreeIndex, span: ModelSpan, tenant: int) -> None:
        self.index, self.span, self.tenant = index, span, tenant

    def pod_empties(self) -> I32:
        return self.index.pod_empty[self.span.pod_lo : self.span.pod_hi]

    def partial_block(self, need: int, pod: int | None) -> int | None:
        ix, m = self.index, self.span.index
        if pod is None:
            for idle in range(need, self.span.nodes_per_block):
                for owner in (self.tenant, EMPTY):
                    bucket = ix.partial.get((m, owner, idle))
                    if bucket:
                        return next(iter(bucket))
            return None
        blocks = ix.topology.pod_blocks(pod)
        lo, hi = blocks.start, blocks.stop
        owners = ix.block_owner[lo:hi]
        idles = ix.block_idle[lo:hi]
        ok = (owners == self.tenant) | (owners == EMPTY)
        ok &= ~ix.block_empty[lo:hi] & ~ix.spare_block[lo:hi] & (idles >= need)
        return _fewest(idles, ok, lo)

    def empty_blocks(self, pod: int, count: int) -> list[int]:
        blocks = self.index.topology.pod_blocks(pod)
        found = np.flatnonzero(self.index.block_empty[blocks.start : blocks.stop])[:count]
        return [int(x) for x in found + blocks.start]

    def free_nodes(self, block: int, count: int) -> list[int]:
        nodes = self.index.topology.block_nodes(block)
        found = np.flatnonzero(self.index.idle[nodes.start : nodes.stop])[:count]
        return [int(x) for x in found + nodes.start]

    def shared_node(self, gpus: int) -> tuple[int, int] | None:
        ix, span = self.index, self.span
        for free in range(gpus, span.gpus_per_node):
            bucket = ix.shared.get((span.index, free))
            if bucket:
                node = next(iter(bucket))
                return node, span.full_mask & ~int(ix.calendar.used[node])
        return None

    def free_gpus(self) -> int:
        return self.index.model_free[self.span.index]


class ExactView:
    """Exact over [start, end). The index is exact for every block whose live entries all
    overlap the window; only the others (`dirty`: by default all of the model's blocks) are
    computed here, node by node, with array operations. `lift_spares` (every block dirty)
    counts spare blocks as ordinary ones: the view a firm lease that fits no other way is
    placed in (ADR 0011)."""

    def __init__(
        self,
        index: FreeIndex,
        span: ModelSpan,
        tenant: int,
        start: int,
        end: int,
        dirty: npt.NDArray[np.int64] | None = None,
        lift_spares: bool = False,
    ) -> None:
        self.index, self.span, self.tenant = index, span, tenant
        t, cal, per = index.topology, index.calendar, span.nodes_per_block
        b0, b1 = span.block_lo, span.block_hi
        if dirty is None:
            dirty = np.arange(b0, b1, dtype=np.int64)
        if lift_spares and len(dirty) != b1 - b0:
            raise ValueError("lifting spares needs every block of the model computed")
        self.dirty = dirty
        self.all_dirty = len(dirty) == b1 - b0  # nothing to take from the index
        self.is_dirty = np.zeros(b1 - b0, dtype=np.bool_)
        self.is_dirty[dirty - b0] = True
        nodes = (t.block_first_node[dirty][:, None] + np.arange(per)).ravel()
        self.nodes = nodes
        clear = (cal.nlive[nodes] == 0) | (cal.busy_until[nodes] <= start)
        clear |= cal.busy_from[nodes] >= end
        # Every live entry overlaps the window: the summaries are exact for it.
        within = ~clear & (cal.late_start[nodes] < end) & (cal.early_end[nodes] > start)
        used = np.where(within, cal.used[nodes], np.uint64(0))
        foreign = within & (cal.tenant[nodes] != tenant)
        straddle = ~clear & ~within  # some entries overlap the window, some do not
        pairs = np.flatnonzero(straddle & (cal.nlive[nodes] == 2))
        if pairs.size:
            of = nodes[pairs]
            hits = (cal.pair_start[of] < end) & (cal.pair_end[of] > start)
            used[pairs] = np.bitwise_or.reduce(np.where(hits, cal.pair_mask[of], 0), axis=1)
            foreign[pairs] = (hits & (cal.pair_tenant[of] != tenant)).any(axis=1)
        for i in np.flatnonzero(straddle & (cal.nlive[nodes] > 2)).tolist():
            node = int(nodes[i])
            used[i] = cal.used_over(node, start, end)
            foreign[i] = cal.foreign_over(node, start, end, tenant)
        up = index.state[nodes] == UP
        spare_block = index.spare_block[dirty]
        if lift_spares:
            spare_block = np.zeros_like(spare_block)
        else:
            up &= ~index.spare_node[nodes]
        self.free_mask = np.where(up, np.uint64(span.full_mask) & ~used, np.uint64(0))
        self.free_bits = np.bitwise_count(self.free_mask).astype(np.int32)
        self.whole = up & (used == 0)
        self.block_free = self.whole.reshape(-1, per).sum(axis=1, dtype=np.int32)
        self.block_ok = ~foreign.reshape(-1, per).any(axis=1) & ~spare_block
        self.block_all = self.block_ok & (self.block_free == per)
        pods = t.block_pod[dirty] - span.pod_lo
        width = span.pod_hi - span.pod_lo
        self.pod_empty = (
            index.pod_empty[span.pod_lo : span.pod_hi]
            - np.bincount(pods[index.block_empty[dirty]], minlength=width)
            + np.bincount(pods[self.block_all], minlength=width)
        ).astype(np.int32)
        fast_free = int(index.free_bits[nodes].sum())
        self._free = index.model_free[span.index] - fast_free + int(self.free_bits.sum())

    def pod_empties(self) -> I32:
        return self.pod_empty

    def partial_block(self, need: int, pod: int | None) -> int | None:
        best = self._clean_partial(need, pod)
        fewest = self.span.nodes_per_block if best is None else int(self.index.block_idle[best])
        a, z = self._dirty_range(pod)
        ok = self.block_ok[a:z] & ~self.block_all[a:z] & (self.block_free[a:z] >= need)
        found = _fewest(self.block_free[a:z], ok, a)
        if found is not None and self.block_free[found] < fewest:
            return int(self.dirty[found])
        return best

    def _clean_partial(self, need: int, pod: int | None) -> int | None:
        """The index's best partly used block among those it sees exactly."""
        ix, b0, m = self.index, self.span.block_lo, self.span.index
        if self.all_dirty:
            return None
        if pod is None:
            for idle in range(need, self.span.nodes_per_block):
                for owner in (self.tenant, EMPTY):
                    for block in ix.partial.get((m, owner, idle), ()):
                        if not self.is_dirty[block - b0]:
                            return block
            return None
        blocks = ix.topology.pod_blocks(pod)
        lo, hi = blocks.start, blocks.stop
        owners, idles = ix.block_owner[lo:hi], ix.block_idle[lo:hi]
        ok = (owners == self.tenant) | (owners == EMPTY)
        ok &= ~self.is_dirty[lo - b0 : hi - b0] & ~ix.block_empty[lo:hi]
        ok &= ~ix.spare_block[lo:hi] & (idles >= need)
        return _fewest(idles, ok, lo)

    def _dirty_range(self, pod: int | None) -> tuple[int, int]:
        """Positions in `dirty` (sorted) of the dirty blocks of `pod` (all if None)."""
        if pod is None:
            return 0, len(self.dirty)
        blocks = self.index.topology.pod_blocks(pod)
        a, z = np.searchsorted(self.dirty, (blocks.start, blocks.stop))
        return int(a), int(z)

    def empty_blocks(self, pod: int, count: int) -> list[int]:
        ix = self.index
        blocks = ix.topology.pod_blocks(pod)
        lo, hi, b0 = blocks.start, blocks.stop, self.span.block_lo
        clean = np.flatnonzero(ix.block_empty[lo:hi] & ~self.is_dirty[lo - b0 : hi - b0]) + lo
        a, z = self._dirty_range(pod)
        mine = self.dirty[a:z][self.block_all[a:z]]
        return [int(b) for b in np.concatenate([clean, mine])[:count]]

    def free_nodes(self, block: int, count: int) -> list[int]:
        if not self.is_dirty[block - self.span.block_lo]:
            return FastView(self.index, self.span, self.tenant).free_nodes(block, count)
        per = self.span.nodes_per_block
        k = int(np.searchsorted(self.dirty, block))
        found = np.flatnonzero(self.whole[k * per : (k + 1) * per])[:count]
        return [int(x) for x in self.nodes[k * per + found]]

    def shared_node(self, gpus: int) -> tuple[int, int] | None:
        ix, span, b0 = self.index, self.span, self.span.block_lo
        node_block = ix.node_block
        ok = np.repeat(self.block_ok, span.nodes_per_block) & ~self.whole
        found = _fewest(self.free_bits, ok & (self.free_bits >= gpus), 0)
        fewest = span.gpus_per_node if found is None else int(self.free_bits[found])
        for free in range(gpus, 0 if self.all_dirty else fewest):
            for node in ix.shared.get((span.index, free), ()):
                if not self.is_dirty[node_block[node] - b0]:
                    return node, span.full_mask & ~int(ix.calendar.used[node])
        if found is None:
            return None
        return int(self.nodes[found]), int(self.free_mask[found])

    def free_gpus(self) -> int:
        return self._free


def _fewest(amounts: npt.NDArray[np.int32], ok: npt.NDArray[np.bool_], offset: int) -> int | None:
    """Offset + position of the smallest amount where ok (the first on ties), or None."""
    where = np.flatnonzero(ok)
    if where.size == 0:
        return None
    return offset + int(where[np.argmin(amounts[where])])
