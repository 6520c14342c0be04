"""What a node failure does to the holds on it: replacement, preemption with notice, shortfall."""

from __future__ import annotations

from gpufleet.domain.fleet import NodeState
from gpufleet.placement import (
    HOUR,
    HoldKind,
    Placement,
    Placer,
    ReplacementSource,
    Request,
    Topology,
    fail_node,
    set_node_state,
)
from gpufleet.planning.scenario.model import Cluster
from tests.unit.test_placement_oracle import check_invariants

T0 = 1_000_000
DAY = 86_400


def hgx(pods: int = 1, nodes: int = 4) -> Topology:
    return Topology([Cluster(name="hgx", gpu_model="H100", gpus_per_node=8, nodes_per_block=1,
                             blocks_per_pod=nodes, pods=pods)])  # fmt: skip


def nvl(pods: int = 1, blocks: int = 3, per_block: int = 4) -> Topology:
    shape = Cluster(name="nvl", gpu_model="GB200", gpus_per_node=4, nodes_per_block=per_block,
                    blocks_per_pod=blocks, pods=pods)  # fmt: skip
    return Topology([shape])


def lease(holder: str, tenant: int, gpus: int, model: str = "H100", **kw: object) -> Request:
    return Request(holder, tenant, HoldKind.LEASE, model, gpus, T0, T0 + DAY, **kw)  # type: ignore[arg-type]


def nodes_of(placer: Placer, holder: str, at: int) -> list[int]:
    return [a.node for a in placer.assignments(holder) if a.start <= at < a.end]


def test_failed_node_is_replaced_by_a_spare_of_the_same_pod_first() -> None:
    placer = Placer(hgx(pods=2, nodes=4), spare_share=0.25, clock=T0)
    assert isinstance(placer.place(lease("a", 1, 8)), Placement)
    (node,) = nodes_of(placer, "a", T0)
    outcome = fail_node(placer, node, T0 + HOUR)
    (replaced,) = outcome.replaced
    assert replaced.source == ReplacementSource.SPARE
    assert placer.topology.pod_of(replaced.node) == placer.topology.pod_of(node)
    assert placer.bookings.spare_block[placer.topology.block_of(replaced.node)]
    assert (replaced.start, replaced.end) == (T0 + HOUR, T0 + DAY)
    assert outcome.shortfalls == ()
    assert placer.delivery("a").shortfall == 0
    check_invariants(placer)


def test_spares_are_kept_out_of_interruptible_and_internal_placement() -> None:
    placer = Placer(hgx(pods=1, nodes=4), spare_share=0.25, clock=T0)
    assert isinstance(placer.place(lease("a", 1, 24)), Placement)
    spot = lease("b", 2, 8, interruptible=True, notice_hours=1)
    assert not isinstance(placer.place(spot), Placement)
    job = Request.training("train", "H100", 8, T0, T0 + DAY, contiguous=False)
    assert not isinstance(placer.place(job), Placement)
    # A firm lease may take it (ADR 0011); see tests/unit/test_placement_spare_yield.py.


def test_without_a_spare_an_idle_node_in_the_same_block_is_used() -> None:
    placer = Placer(nvl(blocks=2), clock=T0)
    assert isinstance(placer.place(lease("a", 1, 8, "GB200")), Placement)  # 2 of 4 nodes
    node = nodes_of(placer, "a", T0)[0]
    (replaced,) = fail_node(placer, node, T0 + HOUR).replaced
    assert replaced.source == ReplacementSource.IDLE
    assert placer.topology.block_of(replaced.node) == placer.topology.block_of(node)


def test_replacement_never_enters_another_tenants_block() -> None:
    placer = Placer(nvl(blocks=2, per_block=2), clock=T0)
    assert isinstance(placer.place(lease("a", 1, 8, "GB200")), Placement)  # all of one block
    assert isinstance(placer.place(lease("b", 2, 4, "GB200")), Placement)  # half the other
    outcome = fail_node(placer, nodes_of(placer, "a", T0)[0], T0 + HOUR)
    assert outcome.replaced == ()
    (short,) = outcome.shortfalls
    assert short.gpu_hours == 4 * (DAY - HOUR) / HOUR
    check_invariants(placer)


def test_contiguous_lease_is_replaced_only_inside_its_pod() -> None:
    placer = Placer(hgx(pods=2, nodes=1), clock=T0)
    assert isinstance(placer.place(lease("a", 1, 8, contiguous=True)), Placement)
    outcome = fail_node(placer, nodes_of(placer, "a", T0)[0], T0)
    assert outcome.replaced == ()
    assert outcome.shortfalls[0].gpu_hours == 8 * 24


def test_failure_reclaims_an_interruptible_lease_after_its_notice() -> None:
    placer = Placer(hgx(pods=1, nodes=2), clock=T0)
    assert isinstance(placer.place(lease("firm", 1, 8)), Placement)
    spot = lease("spot", 2, 8, interruptible=True, notice_hours=2)
    assert isinstance(placer.place(spot), Placement)
    (spot_node,) = nodes_of(placer, "spot", T0)
    at = T0 + HOUR
    outcome = fail_node(placer, nodes_of(placer, "firm", T0)[0], at)
    (notice,) = outcome.notices
    assert (notice.victim, notice.for_holder) == ("spot", "firm")
    assert notice.reclaim_at == at + 2 * HOUR
    assert notice.nodes == (spot_node,)
    assert "interruptible" in notice.reason
    (replaced,) = outcome.replaced
    assert (replaced.node, replaced.start, replaced.source) == (
        spot_node,
        notice.reclaim_at,
        "reclaimed",
    )
    (short,) = outcome.shortfalls
    assert (short.start, short.end, short.gpus) == (at, notice.reclaim_at, 8)
    # The victim keeps its node until reclaim_at, then its lease is over.
    assert nodes_of(placer, "spot", notice.reclaim_at - 1) == [spot_node]
    assert nodes_of(placer, "spot", notice.reclaim_at) == []
    assert placer.delivery("spot").promised == 8 * 3 * HOUR
    firm = placer.delivery("firm")
    assert firm.shortfall == 8 * 2 * HOUR
    assert firm.delivered + firm.shortfall == firm.promised
    check_invariants(placer)


def test_experiments_yield_at_once_and_cost_no_shortfall() -> None:
    placer = Placer(hgx(pods=1, nodes=2), clock=T0)
    assert isinstance(placer.place(lease("firm", 1, 8)), Placement)
    for i in range(4):
        assert isinstance(
            placer.place(Request.experiment(f"e{i}", "H100", 2, T0, T0 + DAY)), Placement
        )
    outcome = fail_node(placer, nodes_of(placer, "firm", T0)[0], T0 + HOUR)
    assert sorted(n.victim for n in outcome.notices) == ["e0", "e1", "e2", "e3"]
    assert all(n.reclaim_at == T0 + HOUR for n in outcome.notices)
    assert outcome.shortfalls == ()
    assert outcome.replaced[0].start == T0 + HOUR


def test_interruptible_holds_are_not_given_other_interruptible_capacity() -> None:
    placer = Placer(hgx(pods=1, nodes=2), clock=T0)
    for name in ("s1", "s2"):
        spot = lease(name, 2, 8, interruptible=True, notice_hours=1)
        assert isinstance(placer.place(spot), Placement)
    outcome = fail_node(placer, nodes_of(placer, "s1", T0)[0], T0)
    assert outcome.notices == ()
    assert outcome.replaced == ()
    assert placer.delivery("s1").shortfall == 8 * DAY


def test_a_future_hold_on_a_failed_node_moves_whole() -> None:
    placer = Placer(hgx(pods=1, nodes=2), clock=T0)
    later = Request("later", 1, HoldKind.LEASE, "H100", 8, T0 + DAY, T0 + 2 * DAY)
    assert isinstance(placer.place(later), Placement)
    (node,) = nodes_of(placer, "later", T0 + DAY)
    (replaced,) = fail_node(placer, node, T0).replaced
    assert (replaced.start, replaced.end) == (T0 + DAY, T0 + 2 * DAY)
    assert [a.node for a in placer.assignments("later")] == [replaced.node]


def test_repaired_node_takes_work_again_and_drained_node_takes_none() -> None:
    placer = Placer(hgx(pods=1, nodes=1), clock=T0)
    fail_node(placer, 0, T0)
    assert placer.node_state(0) == NodeState.DOWN
    assert not isinstance(placer.place(lease("a", 1, 8)), Placement)
    set_node_state(placer, 0, NodeState.UP, T0 + HOUR)
    b = Request("b", 1, HoldKind.LEASE, "H100", 8, T0 + HOUR, T0 + DAY)
    assert isinstance(placer.place(b), Placement)
    set_node_state(placer, 0, NodeState.DRAINING, T0 + 2 * HOUR)
    assert nodes_of(placer, "b", T0 + 3 * HOUR) == [0]  # draining keeps what runs
    c = Request("c", 1, HoldKind.LEASE, "H100", 8, T0 + DAY, T0 + 2 * DAY)
    assert not isinstance(placer.place(c), Placement)
