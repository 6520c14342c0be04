"""Placement rules, one behaviour per test, on small hand-made fleets."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from gpufleet.domain.errors import Conflict, InvalidInput
from gpufleet.placement import (
    HoldKind,
    Placement,
    Placer,
    Refusal,
    RefusalReason,
    Request,
    Topology,
    seconds,
)
from gpufleet.planning.scenario.model import Cluster, RentalTerms

T0 = 1_000_000
DAY = 86_400


def nvl(pods: int = 2, blocks: int = 4, name: str = "nvl") -> Cluster:
    """GB200 NVL72 racks: 18 nodes × 4 GPUs per block."""
    return Cluster(name=name, gpu_model="GB200", gpus_per_node=4, nodes_per_block=18,
                   blocks_per_pod=blocks, pods=pods)  # fmt: skip


def hgx(pods: int = 2, nodes: int = 8) -> Cluster:
    """H100 HGX: an 8-GPU node is its own NVLink block."""
    return Cluster(name="hgx", gpu_model="H100", gpus_per_node=8, nodes_per_block=1,
                   blocks_per_pod=nodes, pods=pods)  # fmt: skip


def lease(holder: str, tenant: int, gpus: int, model: str = "GB200", **kw: object) -> Request:
    return Request(holder, tenant, HoldKind.LEASE, model, gpus, T0, T0 + DAY, **kw)  # type: ignore[arg-type]


def placed(result: Placement | Refusal) -> Placement:
    assert isinstance(result, Placement), result
    return result


def refused(result: Placement | Refusal) -> Refusal:
    assert isinstance(result, Refusal), result
    return result


def blocks_of(placer: Placer, result: Placement) -> Counter[int]:
    return Counter(placer.topology.block_of(a.node) for a in result.assignments)


def test_external_tenant_gets_whole_nodes_even_for_fewer_gpus() -> None:
    placer = Placer(Topology([hgx()]), clock=T0)
    result = placed(placer.place(lease("a", 1, 10, "H100")))
    assert [a.gpu_mask for a in result.assignments] == [0xFF, 0xFF]
    assert sum(a.gpus for a in result.assignments) == 10


def test_lease_smaller_than_a_block_stays_inside_one_block() -> None:
    placer = Placer(Topology([nvl()]), clock=T0)
    result = placed(placer.place(lease("a", 1, 40)))  # 10 nodes of an 18-node rack
    assert len(blocks_of(placer, result)) == 1


def test_lease_of_a_block_or_more_gets_whole_blocks_and_one_remainder_block() -> None:
    placer = Placer(Topology([nvl()]), clock=T0)
    result = placed(placer.place(lease("a", 1, 72 * 2 + 8)))  # 2 racks and 2 nodes
    per_block = sorted(blocks_of(placer, result).values())
    assert per_block == [2, 18, 18]


def test_two_tenants_never_share_a_block() -> None:
    placer = Placer(Topology([nvl(pods=1, blocks=2)]), clock=T0)
    first = placed(placer.place(lease("a", 1, 4)))
    second = placed(placer.place(lease("b", 2, 4)))
    assert not set(blocks_of(placer, first)) & set(blocks_of(placer, second))
    # Both racks now have a tenant: a third tenant finds no rack although 34 nodes are free.
    third = refused(placer.place(lease("c", 3, 4)))
    assert third.reason == RefusalReason.FRAGMENTED
    assert third.free_gpus == 4 * 34


def test_a_tenants_second_lease_joins_its_own_partly_used_block() -> None:
    placer = Placer(Topology([nvl(pods=1, blocks=3)]), clock=T0)
    first = placed(placer.place(lease("a", 1, 8)))
    second = placed(placer.place(lease("b", 1, 8)))
    assert set(blocks_of(placer, first)) == set(blocks_of(placer, second))


def test_best_fit_fills_the_fullest_pod_and_keeps_empty_pods_whole() -> None:
    placer = Placer(Topology([nvl(pods=2, blocks=4)]), clock=T0)
    placed(placer.place(lease("big", 1, 72 * 3)))  # three racks of pod 0
    small = placed(placer.place(lease("small", 2, 72)))
    assert {placer.topology.pod_of(a.node) for a in small.assignments} == {0}
    # Pod 1 is still whole, so a contiguous four-rack lease fits.
    placed(placer.place(lease("whole-pod", 3, 72 * 4, contiguous=True)))


def test_contiguous_lease_stays_in_one_pod() -> None:
    placer = Placer(Topology([nvl(pods=3, blocks=2)]), clock=T0)
    result = placed(placer.place(lease("a", 1, 72 + 40, contiguous=True)))
    assert len({placer.topology.pod_of(a.node) for a in result.assignments}) == 1


def test_contiguous_refusal_says_no_pod_when_the_gpus_fit_across_pods() -> None:
    placer = Placer(Topology([nvl(pods=2, blocks=2)]), clock=T0)
    result = refused(placer.place(lease("a", 1, 72 * 3, contiguous=True)))
    assert result.reason == RefusalReason.NO_CONTIGUOUS_POD
    placed(placer.place(lease("b", 1, 72 * 3)))


def test_refusal_names_not_enough_capacity_of_that_model() -> None:
    placer = Placer(Topology([nvl(pods=1, blocks=1), hgx()]), clock=T0)
    result = refused(placer.place(lease("a", 1, 80)))
    assert result.reason == RefusalReason.NOT_ENOUGH_CAPACITY
    assert (result.requested, result.free_gpus) == (80, 72)
    assert "GB200" in result.message


def test_unknown_model_is_refused_by_name() -> None:
    placer = Placer(Topology([hgx()]), clock=T0)
    assert refused(placer.place(lease("a", 1, 8, "MI300X"))).reason == RefusalReason.UNKNOWN_MODEL


def test_training_job_is_gang_placed_all_or_nothing() -> None:
    placer = Placer(Topology([nvl(pods=1, blocks=2)]), clock=T0)
    job = Request.training("train", "GB200", 72 * 3, T0, T0 + DAY)
    refused(placer.place(job))
    assert list(placer.holders()) == []
    result = placed(placer.place(Request.training("train", "GB200", 100, T0, T0 + DAY)))
    assert sorted(blocks_of(placer, result).values()) == [7, 18]
    assert all(a.gpu_mask == 0xF for a in result.assignments)


def test_experiments_share_a_node_with_each_other() -> None:
    placer = Placer(Topology([hgx(pods=1, nodes=2)]), clock=T0)
    first = placed(placer.place(Request.experiment("e1", "H100", 3, T0, T0 + DAY)))
    second = placed(placer.place(Request.experiment("e2", "H100", 4, T0, T0 + DAY)))
    (a,), (b,) = first.assignments, second.assignments
    assert a.node == b.node
    assert a.gpu_mask & b.gpu_mask == 0


def test_experiments_never_share_a_node_or_block_with_a_tenant() -> None:
    placer = Placer(Topology([nvl(pods=1, blocks=2)]), clock=T0)
    rented = placed(placer.place(lease("a", 1, 4)))
    job = placed(placer.place(Request.experiment("e", "GB200", 1, T0, T0 + DAY)))
    assert not set(blocks_of(placer, rented)) & set(blocks_of(placer, job))


def test_future_reservation_leaves_the_time_before_it_usable() -> None:
    placer = Placer(Topology([hgx(pods=1, nodes=2)]), clock=T0)
    later = Request(
        "later", 1, HoldKind.LEASE, "H100", 16, T0 + DAY, T0 + 2 * DAY
    )  # both nodes, tomorrow
    placed(placer.place(later))
    placed(placer.place(Request("today", 2, HoldKind.LEASE, "H100", 16, T0, T0 + DAY)))
    overlapping = Request("overlap", 3, HoldKind.LEASE, "H100", 8, T0, T0 + DAY + 1)
    assert refused(placer.place(overlapping)).reason == RefusalReason.NOT_ENOUGH_CAPACITY


def test_release_frees_the_nodes_from_that_time() -> None:
    placer = Placer(Topology([hgx(pods=1, nodes=1)]), clock=T0)
    placed(placer.place(lease("a", 1, 8, "H100")))
    refused(placer.place(lease("b", 2, 8, "H100")))
    placer.release("a", T0)
    placed(placer.place(lease("b", 2, 8, "H100")))
    assert placer.delivery("a").promised == 0


def test_advance_retires_holds_and_reports_them_ended() -> None:
    placer = Placer(Topology([hgx(pods=1, nodes=1)]), clock=T0)
    placed(placer.place(lease("a", 1, 8, "H100")))
    assert placer.advance(T0 + DAY - 1) == []
    assert placer.advance(T0 + DAY) == ["a"]
    after = Request("b", 2, HoldKind.LEASE, "H100", 8, T0 + DAY, T0 + 2 * DAY)
    placed(placer.place(after))


def test_a_holder_is_placed_once_and_never_in_the_past() -> None:
    placer = Placer(Topology([hgx()]), clock=T0)
    placed(placer.place(lease("a", 1, 8, "H100")))
    with pytest.raises(Conflict):
        placer.place(lease("a", 1, 8, "H100"))
    with pytest.raises(InvalidInput):
        placer.place(Request("old", 1, HoldKind.LEASE, "H100", 8, T0 - 1, T0 + DAY))
    with pytest.raises(InvalidInput):
        placer.advance(T0 - 1)


def test_requests_are_checked_for_kind_and_tenant() -> None:
    with pytest.raises(InvalidInput):
        Request("x", 0, HoldKind.LEASE, "H100", 8, T0, T0 + DAY)
    with pytest.raises(InvalidInput):
        Request("x", 2, HoldKind.TRAINING, "H100", 8, T0, T0 + DAY)
    with pytest.raises(InvalidInput):
        Request("x", 2, HoldKind.LEASE, "H100", 8, T0, T0)


def test_a_lease_request_is_read_from_rental_terms() -> None:
    terms = RentalTerms.model_validate({
        "gpu_model": "GB200", "gpus": 144, "start": "2027-03-01", "end": "2027-04-01",
        "price_per_gpu_hour": 2.5, "class": "interruptible", "notice_hours": 24,
        "contiguous": True,
    })  # fmt: skip
    request = Request.lease("lease-9", 4, terms)
    assert request.start == seconds(datetime(2027, 3, 1, tzinfo=UTC))
    assert request.end - request.start == 31 * DAY
    assert (request.interruptible, request.notice_hours, request.contiguous) == (True, 24, True)
    placer = Placer(Topology([nvl()]), clock=request.start)
    assert sorted(blocks_of(placer, placed(placer.place(request))).values()) == [18, 18]
