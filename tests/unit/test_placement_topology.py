"""The fleet arrays, the node calendar and the package's public surface."""

from __future__ import annotations

import tracemalloc

import pytest

import gpufleet.placement as placement
from gpufleet.domain.errors import InvalidInput, NotFound
from gpufleet.domain.fleet import node_name
from gpufleet.placement import Placer, Topology
from gpufleet.placement.calendar import Calendar, DoubleBooking, Entry
from gpufleet.planning.scenario.model import Cluster


def cluster(name: str, model: str, gpn: int, per_block: int, blocks: int, pods: int) -> Cluster:
    return Cluster(name=name, gpu_model=model, gpus_per_node=gpn, nodes_per_block=per_block,
                   blocks_per_pod=blocks, pods=pods)  # fmt: skip


def test_each_models_nodes_blocks_and_pods_are_contiguous_ranges() -> None:
    topo = Topology([
        cluster("a", "GB200", 4, 18, 2, 2),
        cluster("h", "H100", 8, 1, 4, 3),
        cluster("b", "GB200", 4, 18, 1, 1),
    ])  # fmt: skip
    gb, h100 = topo.model("GB200"), topo.model("H100")
    assert gb is not None
    assert h100 is not None
    assert (gb.node_lo, gb.node_hi, gb.pod_lo, gb.pod_hi) == (0, 18 * 5, 0, 3)
    assert (h100.node_lo, h100.node_hi, h100.gpus) == (90, 102, 96)
    assert topo.gpus == 5 * 72 + 96
    for node in range(topo.nodes):
        model = topo.model_of_node(node)
        assert model.node_lo <= node < model.node_hi
        assert node in topo.block_nodes(topo.block_of(node))
        assert topo.block_of(node) in topo.pod_blocks(topo.pod_of(node))


def test_node_names_match_the_fleet_tables_and_find_their_node() -> None:
    topo = Topology([cluster("h", "H100", 8, 1, 4, 3), cluster("g", "GB200", 4, 18, 2, 2)])
    for node in range(topo.nodes):
        where = topo.locate(node)
        assert topo.node_name(node) == node_name(*where)
        assert topo.find_node(*where) == node
    assert topo.node_name(0) == "h-p000-b0000-n00"
    with pytest.raises(NotFound):
        topo.find_node("h", 3, 0, 0)


def test_one_gpu_model_in_two_node_shapes_is_refused() -> None:
    with pytest.raises(InvalidInput, match="same GPU model"):
        Topology([cluster("a", "H100", 8, 1, 4, 1), cluster("b", "H100", 4, 1, 4, 1)])


def entry(hold: int, mask: int, start: int, end: int) -> Entry:
    return Entry(hold, 0, mask, mask.bit_count(), start, end, tenant=1, interruptible=False)


def test_calendar_refuses_a_gpu_in_two_holds_at_overlapping_times() -> None:
    cal = Calendar(1)
    cal.add(entry(1, 0b0011, 0, 10))
    with pytest.raises(DoubleBooking):
        cal.add(entry(2, 0b0110, 9, 20))
    cal.add(entry(3, 0b0011, 10, 20))  # same GPUs, next window
    cal.add(entry(4, 0b1100, 5, 15))  # other GPUs, same time
    assert int(cal.used[0]) == 0b1111
    assert cal.used_over(0, 0, 5) == 0b0011
    assert (int(cal.busy_from[0]), int(cal.busy_until[0]), int(cal.nlive[0])) == (0, 20, 3)


def test_calendar_never_lengthens_an_entry() -> None:
    cal = Calendar(1)
    first = entry(1, 0b1, 0, 10)
    cal.add(first)
    with pytest.raises(DoubleBooking):
        cal.shorten(first, 11)
    cal.shorten(first, 5)
    cal.add(entry(2, 0b1, 5, 10))


def test_a_million_gpu_fleet_takes_little_memory() -> None:
    clusters = [cluster("gb", "GB200", 4, 18, 64, 109), cluster("h", "H100", 8, 1, 512, 122)]
    tracemalloc.start()
    placer = Placer(Topology(clusters), spare_share=0.02)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert placer.topology.gpus > 1_000_000
    assert peak < 64 * 2**20


def test_public_api_is_what_it_claims() -> None:
    assert sorted(placement.__all__) == sorted(
        name
        for name in dir(placement)
        if (not name.startswith("_") and name[0].isupper())
        or name in {"fail_node", "seconds", "set_node_state"}
    )
    for name in placement.__all__:
        assert getattr(placement, name) is not None


def test_calendar_adds_a_batch_with_two_entries_on_one_node() -> None:
    cal = Calendar(1)
    cal.add_many([entry(1, 0b01, 0, 10), entry(2, 0b10, 5, 20)])
    assert (int(cal.nlive[0]), int(cal.used[0]), int(cal.busy_until[0])) == (2, 0b11, 20)
    with pytest.raises(DoubleBooking):
        cal.add_many([entry(3, 0b100, 0, 5), entry(4, 0b100, 4, 6)])
    assert int(cal.nlive[0]) == 2
