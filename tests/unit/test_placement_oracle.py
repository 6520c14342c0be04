"""Checks written from the rules, not from the engine, and proof that they can fail.

`check_invariants` reads only what the engine returned; `oracle` recomputes free capacity
from the assignments alone; `check_index` rebuilds the incremental index from the calendar.
The property tests in test_placement_properties.py and test_placement_views.py use them.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, replace

import pytest

from gpufleet.domain.fleet import NodeState
from gpufleet.placement import (
    INTERNAL,
    Assignment,
    HoldKind,
    Placement,
    Placer,
    Refusal,
    RefusalReason,
    Request,
    Topology,
)
from gpufleet.placement.model import SpareUse
from gpufleet.placement.placer import takes_spares
from gpufleet.planning.scenario.model import Cluster


# -- invariants -----------------------------------------------------------------------------
def overlap(a: Assignment, b: Assignment) -> bool:
    return a.start < b.end and b.start < a.end


def check_invariants(placer: Placer) -> None:
    """No GPU twice; isolation; whole nodes; contiguity; promised = delivered + shortfall at
    every instant of every hold."""
    topo = placer.topology
    by_block: dict[int, list[tuple[Assignment, Request]]] = defaultdict(list)
    for holder in placer.holders():
        hold = placer.hold(holder)
        r = hold.request
        mine = placer.assignments(holder)
        for a in mine:
            span = topo.model_of_node(a.node)
            assert span.name == r.gpu_model
            assert a.gpu_mask & ~span.full_mask == 0
            assert a.gpu_mask.bit_count() >= a.gpus > 0
            if r.kind != HoldKind.EXPERIMENT:
                assert a.gpu_mask == span.full_mask, f"{holder} holds part of node {a.node}"
            assert r.start <= a.start < a.end <= r.end
            by_block[topo.block_of(a.node)].append((a, r))
        if r.contiguous:
            assert len({topo.pod_of(a.node) for a in mine}) <= 1, f"{holder} spans pods"
        delivery = placer.delivery(holder)
        assert delivery.delivered + delivery.shortfall == delivery.promised
        check_coverage(mine, hold.shortfalls, r.gpus, r.start, hold.end)
    for items in by_block.values():
        for (a, r), (b, q) in itertools.combinations(items, 2):
            if not overlap(a, b):
                continue
            if a.node == b.node:
                assert not a.gpu_mask & b.gpu_mask, f"GPU of node {a.node} in two holds"
            assert r.tenant == q.tenant, f"tenants {r.tenant} and {q.tenant} share a block"


def check_coverage(
    mine: tuple[Assignment, ...], shortfalls: list[tuple[int, int, int]], gpus: int, start: int,
    end: int,
) -> None:  # fmt: skip
    cuts = sorted({start, end, *(a.start for a in mine), *(a.end for a in mine),
                   *(s for s, _, _ in shortfalls), *(e for _, e, _ in shortfalls)})  # fmt: skip
    for t in (c for c in cuts if start <= c < end):
        held = sum(a.gpus for a in mine if a.start <= t < a.end)
        short = sum(g for s, e, g in shortfalls if s <= t < e)
        assert held + short == gpus, f"at {t}: {held} held + {short} short != {gpus}"


def check_index(placer: Placer) -> None:
    """The incremental index and calendar summaries equal a rebuild from the entries."""
    b = placer.bookings
    topo, cal, ix = placer.topology, b.calendar, b.index
    tenants: dict[int, set[int]] = defaultdict(set)
    future = [0] * len(topo.models)
    pending: dict[int, int] = defaultdict(int)
    for node in range(topo.nodes):  # a block's owner counts all its nodes: first, all of them
        tenants[topo.block_of(node)].update(e.tenant for e in cal.entries(node))
    for node in range(topo.nodes):
        span = topo.model_of_node(node)
        live = cal.entries(node)
        used = 0
        for e in live:
            used |= e.mask
            future[span.index] += e.start > b.clock
            pending[topo.block_of(node)] += e.start > b.clock
            assert e.live
            assert e.end > b.clock
        assert int(cal.nlive[node]) == len(live)
        assert int(cal.used[node]) == used
        if live:
            assert int(cal.busy_from[node]) == min(e.start for e in live)
            assert int(cal.busy_until[node]) == max(e.end for e in live)
            assert int(cal.late_start[node]) == max(e.start for e in live)
            assert int(cal.early_end[node]) == min(e.end for e in live)
        usable = placer.node_state(node) == NodeState.UP and not b.spare_block[topo.block_of(node)]
        assert bool(ix.idle[node]) == (usable and not live)
        free = span.gpus_per_node - used.bit_count() if usable else 0
        assert int(ix.free_bits[node]) == free
        owner = tenants_owner(tenants.get(topo.block_of(node), set()))
        shared = 0 < free < span.gpus_per_node and owner == INTERNAL
        assert ix.node_bucket.get(node) == ((span.index, free) if shared else None)
        assert bool(ix.in_shared[node]) == shared
    assert b._future == future
    for span in topo.models:
        assert ix.model_free[span.index] == int(ix.free_bits[span.node_lo : span.node_hi].sum())
    for block in range(topo.blocks):
        nodes = topo.block_nodes(block)
        idle = int(ix.idle[nodes.start : nodes.stop].sum())
        owner = tenants_owner(tenants.get(block, set()))
        spare = bool(b.spare_block[block])
        empty = not spare and idle == len(nodes)
        assert (int(ix.block_idle[block]), int(ix.block_owner[block])) == (idle, owner)
        assert bool(ix.block_empty[block]) == empty
        assert int(ix.block_pending[block]) == pending[block]
        partial = not spare and not empty and idle > 0 and owner != -2
        model = topo.model_of_node(nodes.start).index
        assert ix.block_bucket.get(block) == ((model, owner, idle) if partial else None)
    for pod in range(topo.pods):
        blocks = topo.pod_blocks(pod)
        assert int(ix.pod_empty[pod]) == int(ix.block_empty[blocks.start : blocks.stop].sum())


def tenants_owner(tenants: set[int]) -> int:
    return -1 if not tenants else next(iter(tenants)) if len(tenants) == 1 else -2


# -- an oracle written from the rules ---------------------------------------------------------
@dataclass
class Verdict:
    free_gpus: int
    fits: bool  # by the rules, ignoring `contiguous`
    fits_in_one_pod: bool
    # ADR 0011: a firm lease may also use spare blocks; for other requests, the same as above
    fits_on_spares: bool = False
    fits_in_one_pod_on_spares: bool = False

    def possible(self, r: Request) -> bool:
        return self.fits_in_one_pod if r.contiguous else self.fits

    def possible_on_spares(self, r: Request) -> bool:
        return self.fits_in_one_pod_on_spares if r.contiguous else self.fits_on_spares


def oracle(placer: Placer, r: Request, spares: SpareUse = SpareUse.SHAPE) -> Verdict:
    ordinary = _oracle(placer, r, lift_spares=False)
    if spares == SpareUse.NEVER or not takes_spares(r):
        return ordinary
    if spares == SpareUse.SHAPE and not _shape_needs_spares(placer, r):
        return ordinary
    lifted = _oracle(placer, r, lift_spares=True)
    return replace(ordinary, fits_on_spares=lifted.fits,
                   fits_in_one_pod_on_spares=lifted.fits_in_one_pod)  # fmt: skip


def _shape_needs_spares(placer: Placer, r: Request) -> bool:
    """Could not even an idle fleet hold `r` without spares? Counted from the topology."""
    topo, spare = placer.topology, placer.bookings.spare_block
    span = topo.model(r.gpu_model)
    assert span is not None
    nodes = -(-r.gpus // span.gpus_per_node)
    ordinary = [b for b in range(span.block_lo, span.block_hi) if not spare[b]]
    if nodes > len(ordinary) * span.nodes_per_block:
        return True
    most = max(
        sum(not spare[b] for b in topo.pod_blocks(p)) for p in range(span.pod_lo, span.pod_hi)
    )
    return r.contiguous and -(-nodes // span.nodes_per_block) > most


def _oracle(placer: Placer, r: Request, lift_spares: bool) -> Verdict:
    topo = placer.topology
    span = topo.model(r.gpu_model)
    assert span is not None
    used: dict[int, int] = defaultdict(int)
    foreign: set[int] = set()
    for holder in placer.holders():
        q = placer.hold(holder).request
        for a in placer.assignments(holder):
            if a.start < r.end and r.start < a.end:
                used[a.node] |= a.gpu_mask
                if q.tenant != r.tenant:
                    foreign.add(topo.block_of(a.node))
    spare = placer.bookings.spare_block.copy()
    if lift_spares:
        spare[:] = False
    usable = {n for n in range(span.node_lo, span.node_hi)
              if placer.node_state(n) == NodeState.UP and not spare[topo.block_of(n)]}  # fmt: skip
    free = {
        n: span.full_mask & ~used[n] if n in usable else 0
        for n in range(span.node_lo, span.node_hi)
    }
    free_gpus = sum(m.bit_count() for m in free.values())

    def fits(pods: range) -> bool:
        blocks = [b for p in pods for b in topo.pod_blocks(p) if not spare[b] and b not in foreign]
        whole = {b: sum(free[n] == span.full_mask for n in topo.block_nodes(b)) for b in blocks}
        if r.kind == HoldKind.EXPERIMENT and r.gpus <= span.gpus_per_node:
            return any(free[n].bit_count() >= r.gpus for b in blocks for n in topo.block_nodes(b))
        nodes = -(-r.gpus // span.gpus_per_node)
        full, rest = divmod(nodes, span.nodes_per_block)
        empty = [b for b in blocks if whole[b] == span.nodes_per_block]
        partial = [b for b in blocks if rest <= whole[b] < span.nodes_per_block]
        if rest == 0:
            return len(empty) >= full
        return (len(empty) >= full and bool(partial)) or len(empty) >= full + 1

    pods = range(span.pod_lo, span.pod_hi)
    return Verdict(free_gpus, fits(pods), any(fits(range(p, p + 1)) for p in pods))


def check_decision(verdict: Verdict, r: Request, result: Placement | Refusal) -> None:
    possible, on_spares = verdict.possible(r), verdict.possible_on_spares(r)
    if isinstance(result, Placement):
        assert possible or on_spares, f"placed {r} though the rules forbid it"
        # Spares only when nothing else fits, and then at least one of them (ADR 0011).
        assert bool(result.spare_blocks) == (not possible), f"{r}: spares {result.spare_blocks}"
        return
    assert not possible, f"refused {r} ({result.reason}) though it fits"
    assert not on_spares, f"refused firm {r} ({result.reason}) though it fits on spares"
    assert result.free_gpus == verdict.free_gpus
    if verdict.free_gpus < r.gpus:
        assert result.reason == RefusalReason.NOT_ENOUGH_CAPACITY
    elif r.contiguous and verdict.fits:
        assert result.reason == RefusalReason.NO_CONTIGUOUS_POD
    else:
        assert result.reason == RefusalReason.FRAGMENTED


def check_block_shape(placer: Placer, r: Request, placement: Placement) -> None:
    """⌊n/B⌋ whole blocks and at most one block partly used by the request."""
    span = placer.topology.model(r.gpu_model)
    assert span is not None
    if r.kind == HoldKind.EXPERIMENT and r.gpus <= span.gpus_per_node:
        assert len(placement.assignments) == 1
        return
    per_block: dict[int, int] = defaultdict(int)
    for a in placement.assignments:
        per_block[placer.topology.block_of(a.node)] += 1
    nodes = -(-r.gpus // span.gpus_per_node)
    assert sum(per_block.values()) == nodes
    partly = [c for c in per_block.values() if c < span.nodes_per_block]
    assert len(partly) <= 1
    assert len(per_block) == -(-nodes // span.nodes_per_block)


# -- the checks can fail ----------------------------------------------------------------------
def small_placer() -> Placer:
    shape = Cluster(name="c", gpu_model="A", gpus_per_node=4, nodes_per_block=2,
                    blocks_per_pod=2, pods=1)  # fmt: skip
    placer = Placer(Topology([shape]), clock=0)
    placer.place(Request("a", 1, HoldKind.LEASE, "A", 4, 0, 100))
    return placer


def sneak(placer: Placer, holder: str, tenant: int, node: int, mask: int) -> None:
    """Books behind the placer's back, as a buggy placer would."""
    b = placer.bookings
    request = Request(holder, tenant, HoldKind.LEASE, "A", mask.bit_count(), 0, 100)
    hold = b.open_hold(request, placer.topology.models[0])
    b.book(hold, [(node, mask, mask.bit_count(), 0, 100)])


def test_invariants_catch_two_tenants_in_one_block() -> None:
    placer = small_placer()
    check_invariants(placer)
    node = placer.assignments("a")[0].node
    sneak(placer, "b", 2, node ^ 1, 0xF)  # the other node of the same block
    with pytest.raises(AssertionError, match="share a block"):
        check_invariants(placer)


def test_invariants_catch_a_lease_on_part_of_a_node() -> None:
    placer = small_placer()
    sneak(placer, "b", 1, 3, 0b0011)
    with pytest.raises(AssertionError, match="part of node"):
        check_invariants(placer)


def test_oracle_finds_room_the_engine_must_not_refuse() -> None:
    placer = small_placer()
    request = Request("b", 2, HoldKind.LEASE, "A", 8, 0, 100)  # the other, empty block
    verdict = oracle(placer, request)
    assert (verdict.free_gpus, verdict.fits) == (12, True)
    with pytest.raises(AssertionError, match="though it fits"):
        check_decision(verdict, request, Refusal("b", RefusalReason.FRAGMENTED, "", 8, 12))
    too_big = Request("c", 2, HoldKind.LEASE, "A", 12, 0, 100)
    assert not oracle(placer, too_big).fits


def test_index_check_catches_a_stale_count() -> None:
    placer = small_placer()
    check_index(placer)
    placer.bookings.index.block_idle[0] += 1
    with pytest.raises(AssertionError):
        check_index(placer)
