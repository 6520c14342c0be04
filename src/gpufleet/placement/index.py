"""Incremental free-capacity index: answers best-fit questions in microseconds.

Kept in step with the calendar on every change, counting only what is free for *all* time
from the clock on (a node with any live entry, even a future one, is not idle):

- per node: idle (no live entry, up, not a spare), free GPUs (bits not in any live entry);
- per block: idle nodes, owner (the one tenant with live entries there, EMPTY, or MIXED when
  tenants follow each other in time), empty (every node idle);
- per pod: empty blocks;
- buckets: partly used blocks by (model, owner, idle nodes); nodes shared by experiments by
  (model, free GPUs). Best fit is then "the first bucket at or above what is needed".

That is exact for a window that starts at the clock when every live entry has already
started, and safe (never offers a busy GPU) otherwise; `views.ExactView` covers the rest.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from gpufleet.placement.calendar import Calendar
from gpufleet.placement.model import INTERNAL
from gpufleet.placement.topology import Topology

K = TypeVar("K", tuple[int, int], tuple[int, int, int])

EMPTY = -1
MIXED = -2
BULK = 8  # from this many changed nodes on, refresh with array operations
UP = 0  # node state codes: see `gpufleet.placement.bookings.STATE_CODES`

Bucket = dict[int, None]  # an insertion-ordered set


class FreeIndex:
    """The counts and buckets above, for every node, block, pod and model of a fleet."""

    def __init__(
        self,
        topology: Topology,
        calendar: Calendar,
        state: npt.NDArray[np.int8],
        spare_block: npt.NDArray[np.bool_],
    ) -> None:
        t = topology
        self.topology, self.calendar, self.state = t, calendar, state
        self.spare_block = spare_block
        self.spare_node = spare_block[t.node_block]
        self.block_model = t.pod_model[t.block_pod]
        self.node_model = self.block_model[t.node_block]
        gpn = np.array([m.gpus_per_node for m in t.models], dtype=np.int16)
        self.node_gpus = gpn[self.node_model] if t.nodes else np.zeros(0, np.int16)
        self.block_size = np.diff(t.block_first_node).astype(np.int32)
        self.idle = (state == UP) & ~self.spare_node & (calendar.nlive == 0)
        self.free_bits = np.where(self.idle, self.node_gpus, 0).astype(np.int16)
        self.block_idle = _sums(self.idle, t.block_first_node)
        self.block_owner = np.full(t.blocks, EMPTY, dtype=np.int32)
        self.block_tenants: list[dict[int, int] | None] = [None] * t.blocks
        self.block_empty = ~spare_block & (self.block_idle == self.block_size)
        self.pod_empty = _sums(self.block_empty, t.pod_first_block)
        self.model_free = [int(self.free_bits[m.node_lo : m.node_hi].sum()) for m in t.models]
        self.partial: dict[tuple[int, int, int], Bucket] = {}
        self.shared: dict[tuple[int, int], Bucket] = {}
        self.block_bucket: dict[int, tuple[int, int, int]] = {}  # the key each block is under
        self.node_bucket: dict[int, tuple[int, int]] = {}
        self.in_shared = np.zeros(t.nodes, dtype=np.bool_)
        self.block_pending = np.zeros(t.blocks, dtype=np.int32)  # live entries not yet started
        self.node_block_array = t.node_block.astype(np.int64)
        self.block_pod_array = t.block_pod.astype(np.int64)
        # Python lists of what never changes: a list read is several times a numpy scalar's.
        self.node_block: list[int] = t.node_block.tolist()
        self._node_model: list[int] = self.node_model.tolist()
        self._node_gpus: list[int] = self.node_gpus.tolist()
        self._usable: list[bool] = (~self.spare_node).tolist()
        self._block_pod: list[int] = t.block_pod.tolist()
        self._block_model: list[int] = self.block_model.tolist()
        self._block_size: list[int] = self.block_size.tolist()
        self._spare_block: list[bool] = spare_block.tolist()

    # -- owners -------------------------------------------------------------------------
    def tenants_added(self, tenant: int, blocks: list[int]) -> set[int]:
        """`tenant` has one more live entry in each of `blocks` (repeats allowed); returns
        the blocks whose owner changed."""
        changed: set[int] = set()
        counts: dict[int, int] = {}
        for block in blocks:
            counts[block] = counts.get(block, 0) + 1
        for block, count in counts.items():
            tenants = self.block_tenants[block]
            if tenants is None:
                tenants = self.block_tenants[block] = {}
            tenants[tenant] = tenants.get(tenant, 0) + count
            if self._set_owner(block, tenants):
                changed.add(block)
        return changed

    def tenant_removed(self, block: int, tenant: int) -> bool:
        tenants = self.block_tenants[block]
        assert tenants is not None
        assert tenants.get(tenant, 0) > 0
        tenants[tenant] -= 1
        if tenants[tenant] == 0:
            del tenants[tenant]
        if not tenants:
            self.block_tenants[block] = None
        return self._set_owner(block, tenants)

    def _set_owner(self, block: int, tenants: dict[int, int]) -> bool:
        owner = EMPTY if not tenants else next(iter(tenants)) if len(tenants) == 1 else MIXED
        if owner == self.block_owner[block]:
            return False
        self.block_owner[block] = owner
        return True

    # -- refresh after a change -----------------------------------------------------------
    def refresh(self, nodes: list[int], owner_changed: set[int]) -> None:
        """Brings the index up to date after `nodes` changed (their entries or state) and
        the owners of `owner_changed` blocks changed."""
        unique = list(dict.fromkeys(nodes))
        if len(unique) < BULK:
            blocks: dict[int, None] = {}
            for node in unique:
                self.refresh_node(node)
                blocks[self.node_block[node]] = None
            blocks.update(dict.fromkeys(owner_changed))
            for block in blocks:
                self.refresh_block(block, block in owner_changed)
            return
        arr = np.array(unique, dtype=np.int64)
        self._refresh_nodes(arr)
        touched = self.node_block_array[arr]
        covered = dict(zip(*np.unique(touched, return_counts=True), strict=True))
        for block in owner_changed:  # nodes left out may be shared by experiments
            if covered.get(block, 0) < self._block_size[block]:
                self._rekey_shared(block)
        blocks_arr = np.unique(np.concatenate([touched, np.array(list(owner_changed), np.int64)]))
        self._refresh_blocks(blocks_arr)

    def refresh_node(self, node: int) -> None:
        cal = self.calendar
        block = self.node_block[node]
        usable = self._usable[node] and self.state[node] == UP
        idle = usable and cal.nlive[node] == 0
        if idle != self.idle[node]:
            self.idle[node] = idle
            self.block_idle[block] += 1 if idle else -1
        gpn = self._node_gpus[node]
        free = gpn - int(cal.used[node]).bit_count() if usable else 0
        delta = free - int(self.free_bits[node])
        if delta:
            self.free_bits[node] = free
            self.model_free[self._node_model[node]] += delta
        shared = 0 < free < gpn and self.block_owner[block] == INTERNAL
        if shared or node in self.node_bucket:
            self._key_node(node, (self._node_model[node], free) if shared else None)

    def refresh_block(self, block: int, owner_changed: bool = False) -> None:
        if owner_changed:
            self._rekey_shared(block)
        idle = int(self.block_idle[block])
        spare = self._spare_block[block]
        empty = not spare and idle == self._block_size[block]
        if empty != self.block_empty[block]:
            self.block_empty[block] = empty
            self.pod_empty[self._block_pod[block]] += 1 if empty else -1
        owner = int(self.block_owner[block])
        partial = not spare and not empty and idle > 0 and owner != MIXED
        if partial or block in self.block_bucket:
            key = (self._block_model[block], owner, idle) if partial else None
            _move(self.partial, self.block_bucket, block, key)

    def _rekey_shared(self, block: int) -> None:
        """Only nodes that experiments share can change bucket with the owner."""
        nodes = self.topology.block_nodes(block)
        bits = self.free_bits[nodes.start : nodes.stop]
        gpn = self._node_gpus[nodes.start]
        for i in np.flatnonzero((bits > 0) & (bits < gpn)).tolist():
            self.refresh_node(nodes.start + i)

    def _key_node(self, node: int, key: tuple[int, int] | None) -> None:
        _move(self.shared, self.node_bucket, node, key)
        self.in_shared[node] = key is not None

    def _refresh_nodes(self, nodes: npt.NDArray[np.int64]) -> None:
        """`refresh_node` for many nodes at once (distinct), with array operations."""
        cal = self.calendar
        blocks = self.node_block_array[nodes]
        usable = ~self.spare_node[nodes] & (self.state[nodes] == UP)
        idle = usable & (cal.nlive[nodes] == 0)
        flip = idle != self.idle[nodes]
        if flip.any():
            self.idle[nodes] = idle
            np.add.at(self.block_idle, blocks[flip], np.where(idle[flip], 1, -1))
        gpn = self.node_gpus[nodes]
        free = np.where(usable, gpn - np.bitwise_count(cal.used[nodes]), 0).astype(np.int16)
        delta = free - self.free_bits[nodes]
        if delta.any():
            self.free_bits[nodes] = free
            models = self.node_model[nodes]
            for model in np.unique(models[delta != 0]).tolist():
                self.model_free[model] += int(delta[models == model].sum())
        shared = (free > 0) & (free < gpn) & (self.block_owner[blocks] == INTERNAL)
        for i in np.flatnonzero(shared | self.in_shared[nodes]).tolist():
            node = int(nodes[i])
            self._key_node(node, (self._node_model[node], int(free[i])) if shared[i] else None)

    def _refresh_blocks(self, blocks: npt.NDArray[np.int64]) -> None:
        """`refresh_block` for many blocks at once (distinct), with array operations."""
        idle = self.block_idle[blocks]
        spare = self.spare_block[blocks]
        empty = ~spare & (idle == self.block_size[blocks])
        flip = empty != self.block_empty[blocks]
        if flip.any():
            self.block_empty[blocks] = empty
            np.add.at(
                self.pod_empty, self.block_pod_array[blocks[flip]], np.where(empty[flip], 1, -1)
            )
        owner = self.block_owner[blocks]
        partial = ~spare & ~empty & (idle > 0) & (owner != MIXED)
        for i in np.flatnonzero(partial).tolist():
            block = int(blocks[i])
            _move(self.partial, self.block_bucket, block,
                  (self._block_model[block], int(owner[i]), int(idle[i])))  # fmt: skip
        for block in [int(b) for b in blocks[~partial]]:
            if block in self.block_bucket:
                _move(self.partial, self.block_bucket, block, None)


def _sums(flags: npt.NDArray[np.bool_], firsts: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    if len(firsts) <= 1:
        return np.zeros(0, dtype=np.int32)
    return np.add.reduceat(flags, firsts[:-1], dtype=np.int32)


def _move(buckets: dict[K, Bucket], keys: dict[int, K], item: int, key: K | None) -> None:
    old = keys.get(item)
    if old == key:
        return
    if old is not None:
        bucket = buckets[old]
        del bucket[item]
        if not bucket:
            del buckets[old]
        del keys[item]
    if key is not None:
        buckets.setdefault(key, {})[item] = None
        keys[item] = key
