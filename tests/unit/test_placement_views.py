"""Both views of free capacity against brute force, over random fleets, bookings and windows.

The exact view must answer every question exactly for any window; the fast index must do
so whenever it claims to be exact (a window from the clock, nothing booked to start later).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.domain.fleet import NodeState
from gpufleet.placement import INTERNAL, HoldKind, Placer, Request, Topology
from gpufleet.placement.topology import ModelSpan
from gpufleet.placement.views import View
from gpufleet.planning.scenario.model import Cluster
from tests.unit.test_placement_properties import STEP, fleets, place_ops, request_of


@dataclass
class Truth:
    free_mask: dict[int, int]
    eligible: dict[int, bool]  # per block: usable by the tenant (no other tenant, no spare)

    def whole(self, span: ModelSpan, node: int) -> bool:
        return self.free_mask[node] == span.full_mask


def truth(placer: Placer, span: ModelSpan, tenant: int, start: int, end: int) -> Truth:
    topo = placer.topology
    used: dict[int, int] = defaultdict(int)
    foreign: set[int] = set()
    for holder in placer.holders():
        owner = placer.hold(holder).request.tenant
        for a in placer.assignments(holder):
            if a.start < end and start < a.end:
                used[a.node] |= a.gpu_mask
                if owner != tenant:
                    foreign.add(topo.block_of(a.node))
    spare = placer.bookings.spare_block
    free = {}
    for node in range(span.node_lo, span.node_hi):
        usable = placer.node_state(node) == NodeState.UP and not spare[topo.block_of(node)]
        free[node] = span.full_mask & ~used[node] if usable else 0
    blocks = range(span.block_lo, span.block_hi)
    return Truth(free, {b: b not in foreign and not spare[b] for b in blocks})


def check_view(placer: Placer, view: View, t: Truth) -> None:
    topo, span = placer.topology, view.span
    per = span.nodes_per_block
    assert view.free_gpus() == sum(m.bit_count() for m in t.free_mask.values())
    whole = {b: [n for n in topo.block_nodes(b) if t.whole(span, n)] for b in t.eligible}
    empty = {b for b, ok in t.eligible.items() if ok and len(whole[b]) == per}
    for i, pod in enumerate(range(span.pod_lo, span.pod_hi)):
        mine = {b for b in topo.pod_blocks(pod) if b in empty}
        assert int(view.pod_empties()[i]) == len(mine)
        assert set(view.empty_blocks(pod, len(mine) + 1)) == mine
    for block in t.eligible:
        assert view.free_nodes(block, per) == whole[block]
    for need in range(1, per):
        partial = {b: len(whole[b]) for b, ok in t.eligible.items()
                   if ok and b not in empty and len(whole[b]) >= need}  # fmt: skip
        found = view.partial_block(need, None)
        if not partial:
            assert found is None
        else:
            assert found in partial
            assert partial[found] == min(partial.values())
        for pod in range(span.pod_lo, span.pod_hi):
            inside = {b: c for b, c in partial.items() if topo.block_pod[b] == pod}
            found = view.partial_block(need, pod)
            assert (found is None) == (not inside)
            assert found is None or inside[found] == min(inside.values())
    if view.tenant != INTERNAL:
        return
    for gpus in range(1, span.gpus_per_node + 1):
        shared = {n: m.bit_count() for n, m in t.free_mask.items()
                  if t.eligible[topo.block_of(n)] and not t.whole(span, n)
                  and m.bit_count() >= gpus}  # fmt: skip
        got = view.shared_node(gpus)
        if not shared:
            assert got is None
        else:
            assert got is not None
            node, mask = got
            assert mask == t.free_mask[node]
            assert shared[node] == min(shared.values())


@st.composite
def roomy_fleets(draw: st.DrawFn) -> list[Cluster]:
    """One model in blocks of 3-6 nodes of 2-8 GPUs: room for partly used blocks."""
    gpn, per_block = draw(st.sampled_from([2, 4, 8])), draw(st.integers(3, 6))
    blocks, pods = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    return [Cluster(name="c", gpu_model="A", gpus_per_node=gpn, nodes_per_block=per_block,
                    blocks_per_pod=blocks, pods=pods)]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    clusters=st.one_of(fleets(), roomy_fleets()),
    stream=st.lists(
        st.one_of(place_ops, st.tuples(st.just("advance"), st.integers(0, 3))),
        min_size=5,
        max_size=40,
    ),
    windows=st.lists(
        st.tuples(st.sampled_from([0, 0, 0, 1, 4]), st.integers(1, 8), st.sampled_from([0, 1, 2])),
        min_size=1,
        max_size=4,
    ),
    failed=st.lists(st.integers(0, 10**6), max_size=3),
)
def test_views_answer_exactly_what_brute_force_finds(
    clusters: list[Cluster],
    stream: list[tuple[object, ...]],
    windows: list[tuple[int, int, int]],
    failed: list[int],
) -> None:
    topo = Topology(clusters)
    placer = Placer(topo, spare_share=0.2, clock=STEP * 100)
    for i, op in enumerate(stream):
        if op[0] == "advance":
            assert isinstance(op[1], int)
            placer.advance(placer.clock + STEP * op[1])
            continue
        request = request_of(op, f"h{i}", placer.clock)
        if topo.model(request.gpu_model) is None:  # keep every request on this fleet
            request = dataclasses.replace(request, gpu_model=topo.models[0].name)
        placer.place(request)
    for pick in failed:
        placer.bookings.set_state(pick % topo.nodes, NodeState.DRAINING)
    b = placer.bookings
    for delay, length, tenant in windows:
        start = placer.clock + STEP * delay
        end = start + STEP * length
        for span in topo.models:
            t = truth(placer, span, tenant, start, end)
            check_view(placer, b.view(span, tenant, start, end, exact=True), t)
            if b.fast_is_exact(span, start):
                check_view(placer, b.view(span, tenant, start, end, exact=False), t)


DAY = 86_400


def test_exact_view_counts_a_booked_gap_when_choosing_the_fullest_block() -> None:
    topo = Topology([Cluster(name="c", gpu_model="A", gpus_per_node=4, nodes_per_block=4,
                             blocks_per_pod=2, pods=1)])  # fmt: skip
    t0 = STEP * 100
    placer = Placer(topo, clock=t0)
    lease = functools.partial(Request, kind=HoldKind.LEASE, gpu_model="A", tenant=1)
    placer.place(lease(holder="now", gpus=12, start=t0, end=t0 + DAY))  # 3 nodes of block 0
    placer.place(lease(holder="later", gpus=4, start=t0 + DAY, end=t0 + 2 * DAY))  # its 4th
    placer.place(lease(holder="small", gpus=4, start=t0, end=t0 + DAY))  # block 1, 3 left
    span = topo.models[0]
    view = placer.bookings.view(span, 1, t0, t0 + DAY, exact=True)
    assert view.partial_block(1, None) == 0  # one node free until tomorrow, the best fit
    assert view.partial_block(1, 0) == 0
    assert view.free_nodes(0, 4) == [3]


def test_exact_view_counts_a_booked_gap_when_choosing_the_fullest_shared_node() -> None:
    topo = Topology([Cluster(name="c", gpu_model="A", gpus_per_node=4, nodes_per_block=1,
                             blocks_per_pod=2, pods=1)])  # fmt: skip
    t0 = STEP * 100
    placer = Placer(topo, clock=t0)
    placer.place(Request.experiment("e1", "A", 3, t0, t0 + DAY))  # node 0, GPUs 0-2
    placer.place(Request.experiment("e2", "A", 1, t0 + DAY, t0 + 2 * DAY))  # node 0, GPU 3
    placer.place(Request.experiment("e3", "A", 1, t0, t0 + DAY))  # node 1, GPU 0
    view = placer.bookings.view(topo.models[0], INTERNAL, t0, t0 + DAY, exact=True)
    assert view.shared_node(1) == (0, 0b1000)
