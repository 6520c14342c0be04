"""`Placer.remove`: a hold taken out entirely leaves the engine as if it had never been
placed (what an engine catching up with another process's writes relies on)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.domain.errors import NotFound
from gpufleet.placement import Placement, Placer, Request, Topology, set_node_state
from gpufleet.planning.scenario.model import Cluster
from tests.unit.test_placement_oracle import check_index, check_invariants
from tests.unit.test_placement_properties import STEP, fleets, ops, run_stream


def _restored(original: Placer, holders: list[str]) -> Placer:
    """A new engine holding only `holders` of `original`, as they are there."""
    copy = Placer(original.topology, spare_share=0.25, clock=original.clock)
    for node in range(original.topology.nodes):
        set_node_state(copy, node, original.node_state(node), copy.clock)
    for holder in holders:
        hold = original.hold(holder)
        request = dataclasses.replace(hold.request, end=hold.end)
        copy.restore(request, original.assignments(holder), tuple(hold.shortfalls))
    return copy


def _calendar(placer: Placer) -> list[list[tuple[str, int, int, int]]]:
    b = placer.bookings
    return [
        sorted((b.hold_of(e).request.holder, e.mask, e.start, e.end) for e in b.calendar.entries(n))
        for n in range(placer.topology.nodes)
    ]


@settings(max_examples=150, deadline=None)
@given(clusters=fleets(), stream=ops, picks=st.lists(st.integers(0, 10**6), max_size=6))
def test_removing_holds_leaves_the_engine_of_the_others(
    clusters: list[Cluster], stream: list[tuple[object, ...]], picks: list[int]
) -> None:
    placer, _, _ = run_stream(clusters, stream, 0.25)
    holders = [h for h in placer.holders() if placer.hold(h).end > placer.hold(h).request.start]
    removed = {holders[p % len(holders)] for p in picks} if holders else set()
    kept = [h for h in holders if h not in removed]
    for holder in removed:
        placer.remove(holder)
        assert holder not in set(placer.holders())
    check_index(placer)
    check_invariants(placer)
    expected = _restored(placer, kept)
    assert _calendar(placer) == _calendar(expected)
    ix, jx = placer.bookings.index, expected.bookings.index
    assert ix.free_bits.tolist() == jx.free_bits.tolist()
    assert ix.block_owner.tolist() == jx.block_owner.tolist()
    assert placer.bookings._future == expected.bookings._future
    # What is left goes on: the clock moves over the removed holds' heap items untouched.
    placer.advance(placer.clock + 20 * STEP)
    expected.advance(expected.clock + 20 * STEP)
    assert _calendar(placer) == _calendar(expected)
    check_index(placer)


def test_a_removed_hold_can_be_restored_and_an_unknown_one_is_not_found() -> None:
    clusters = [Cluster(name="c", gpu_model="A", gpus_per_node=8, nodes_per_block=2,
                        blocks_per_pod=2, pods=1)]  # fmt: skip
    placer = Placer(Topology(clusters), clock=STEP)
    request = Request.training("job", "A", 32, 2 * STEP, 5 * STEP)  # the whole pod, later
    placed = placer.place(request)
    assert isinstance(placed, Placement)
    assignments = placer.assignments("job")
    placer.remove("job")
    assert isinstance(placer.place(dataclasses.replace(request, holder="other")), Placement)
    placer.remove("other")
    placer.restore(request, assignments)  # the same GPUs are free again
    assert placer.assignments("job") == assignments
    check_index(placer)
    with pytest.raises(NotFound):
        placer.remove("nobody")
