"""ADR 0011: the spare policy yields to signed contracts. A firm lease whose shape fits only
on a pod's spare blocks takes them (by default; `SpareUse.LAST_RESORT` also when the fleet is
merely full); interruptible leases and the lab's jobs never do; a failure in a pod whose
spares are taken is healed from idle nodes, reclaim or shortfall."""

from __future__ import annotations

from gpufleet.placement import (
    HOUR,
    HoldKind,
    Placement,
    Placer,
    Refusal,
    ReplacementSource,
    Request,
    SpareUse,
    fail_node,
)
from tests.unit.test_placement_failures import DAY, T0, hgx, lease, nodes_of, nvl
from tests.unit.test_placement_oracle import check_invariants


def pod_sized(holder: str, tenant: int, **kw: object) -> Request:
    """A contiguous lease of one whole pod of nvl(blocks=4, per_block=2): 8 nodes × 4 GPUs."""
    return lease(holder, tenant, 32, "GB200", contiguous=True, **kw)


def test_a_pod_sized_contiguous_firm_lease_is_placed_on_the_spares() -> None:
    placer = Placer(nvl(pods=2, blocks=4, per_block=2), spare_share=0.02, clock=T0)
    spare = placer.bookings.spare_block
    assert spare.sum() == 2  # the last block of each pod

    placed = placer.place(pod_sized("a", 1))

    assert isinstance(placed, Placement)
    t = placer.topology
    pods = {t.pod_of(n) for n in placed.nodes}
    assert len(pods) == 1
    assert len(placed.nodes) == 8
    (pod,) = pods
    assert placed.spare_blocks == (t.pod_blocks(pod)[-1],)
    assert all(spare[b] for b in placed.spare_blocks)  # the blocks stay spares, only taken
    assert placer.spare_views == 1
    check_invariants(placer)


def test_an_interruptible_pod_sized_lease_is_not_placed_on_spares() -> None:
    placer = Placer(nvl(pods=2, blocks=4, per_block=2), spare_share=0.02, clock=T0)
    refused = placer.place(pod_sized("a", 1, interruptible=True, notice_hours=2))
    assert isinstance(refused, Refusal)
    assert placer.spare_views == 0


def test_the_lab_training_job_is_not_placed_on_spares() -> None:
    placer = Placer(nvl(pods=2, blocks=4, per_block=2), spare_share=0.02, clock=T0)
    job = Request.training("train", "GB200", 32, T0, T0 + DAY)
    assert isinstance(placer.place(job), Refusal)


def test_by_default_a_full_fleet_keeps_its_spares() -> None:
    placer = Placer(hgx(pods=1, nodes=4), spare_share=0.25, clock=T0)  # node 3 is the spare
    assert isinstance(placer.place(lease("a", 1, 24)), Placement)
    assert isinstance(placer.place(lease("b", 2, 8)), Refusal)  # its shape fits without
    assert placer.spare_views == 0


def test_as_a_last_resort_spares_are_taken_only_when_nothing_else_fits() -> None:
    placer = Placer(hgx(pods=1, nodes=4), spare_share=0.25, clock=T0)  # node 3 is the spare
    last = SpareUse.LAST_RESORT
    first = placer.place(lease("a", 1, 16), spares=last)
    assert isinstance(first, Placement)
    assert first.spare_blocks == ()
    second = placer.place(lease("b", 2, 8), spares=last)
    assert isinstance(second, Placement)
    assert second.spare_blocks == ()
    assert placer.spare_views == 0
    third = placer.place(lease("c", 3, 8), spares=last)
    assert isinstance(third, Placement)
    assert third.nodes == (3,)
    assert third.spare_blocks == (3,)
    assert isinstance(placer.place(lease("d", 4, 8), spares=last), Refusal)  # nothing left
    check_invariants(placer)


def test_a_spare_taken_for_a_window_is_a_spare_again_after_it() -> None:
    placer = Placer(hgx(pods=1, nodes=2), spare_share=0.5, clock=T0)  # node 1 is the spare
    assert isinstance(placer.place(lease("a", 1, 8)), Placement)
    short = Request("b", 2, HoldKind.LEASE, "H100", 8, T0, T0 + HOUR)
    placed = placer.place(short, spares=SpareUse.LAST_RESORT)
    assert isinstance(placed, Placement)
    assert placed.nodes == (1,)
    placer.advance(T0 + HOUR)
    (node,) = nodes_of(placer, "a", T0 + HOUR)
    (replaced,) = fail_node(placer, node, T0 + 2 * HOUR).replaced
    assert replaced.source == ReplacementSource.SPARE
    assert replaced.node == 1


def test_never_keeps_a_pod_sized_lease_off_the_spares() -> None:
    placer = Placer(nvl(pods=2, blocks=4, per_block=2), spare_share=0.02, clock=T0)
    assert isinstance(placer.place(pod_sized("a", 1), spares=SpareUse.NEVER), Refusal)
    assert placer.spare_views == 0


def test_a_lease_larger_than_the_ordinary_nodes_takes_spares_by_default() -> None:
    placer = Placer(hgx(pods=2, nodes=4), spare_share=0.25, clock=T0)  # 6 ordinary nodes
    placed = placer.place(lease("a", 1, 7 * 8))
    assert isinstance(placed, Placement)
    assert len(placed.spare_blocks) == 1


def test_a_failure_in_a_pod_whose_spares_are_taken_is_healed_elsewhere() -> None:
    placer = Placer(nvl(pods=2, blocks=4, per_block=2), spare_share=0.02, clock=T0)
    placed = placer.place(pod_sized("a", 1))
    assert isinstance(placed, Placement)
    outcome = fail_node(placer, placed.nodes[0], T0 + HOUR)
    # Contiguous: only its own pod may heal it, and the pod is all its own: a shortfall.
    assert outcome.replaced == ()
    (short,) = outcome.shortfalls
    assert (short.holder, short.start, short.end) == ("a", T0 + HOUR, T0 + DAY)
    d = placer.delivery("a")
    assert d.promised == d.delivered + d.shortfall
    check_invariants(placer)


def test_restoring_a_lease_on_spares_gives_the_same_engine() -> None:
    topology = nvl(pods=2, blocks=4, per_block=2)
    placer = Placer(topology, spare_share=0.02, clock=T0)
    request = pod_sized("a", 1)
    placed = placer.place(request)
    assert isinstance(placed, Placement)
    again = Placer(topology, spare_share=0.02, clock=T0)
    again.restore(request, placed.assignments)
    assert isinstance(again.place(pod_sized("b", 2)), Placement)  # the other pod, its spare
    assert isinstance(again.place(lease("c", 3, 4, "GB200")), Refusal)
    check_invariants(again)
