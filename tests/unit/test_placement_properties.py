"""Property tests of the placement engine over random small fleets and event streams.

Every check is written from the rules, not from the engine (see test_placement_oracle.py):
after every event the invariants and the index are checked, and before every request the
oracle says whether the rules allow it, so that a refusal is never wrong.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpufleet.placement.index as index_module
from gpufleet.domain.fleet import NodeState
from gpufleet.placement import (
    HOUR,
    HoldKind,
    Placement,
    Placer,
    PreemptionNotice,
    Refusal,
    Request,
    Topology,
    fail_node,
    set_node_state,
)
from gpufleet.planning.scenario.model import Cluster
from tests.unit.test_placement_oracle import (
    check_block_shape,
    check_decision,
    check_index,
    check_invariants,
    oracle,
)

STEP = 1800  # half an hour: windows and notices are a few steps long


# -- random fleets and streams ----------------------------------------------------------------
@st.composite
def fleets(draw: st.DrawFn) -> list[Cluster]:
    shapes = {m: (draw(st.sampled_from([1, 2, 4, 8])), draw(st.integers(1, 4))) for m in "AB"}
    clusters = []
    for i in range(draw(st.integers(1, 3))):
        model = draw(st.sampled_from("AB")) if i else "A"
        gpn, per_block = shapes[model]
        clusters.append(Cluster(name=f"c{i}", gpu_model=model, gpus_per_node=gpn,
                                nodes_per_block=per_block, blocks_per_pod=draw(st.integers(1, 4)),
                                pods=draw(st.integers(1, 3))))  # fmt: skip
    return clusters


place_ops = st.tuples(
    st.just("place"),
    st.sampled_from([HoldKind.LEASE, HoldKind.LEASE, HoldKind.TRAINING, HoldKind.EXPERIMENT]),
    st.integers(1, 3),  # tenant of a lease
    st.sampled_from("AAB"),
    st.one_of(st.integers(1, 8), st.integers(1, 40)),  # GPUs
    st.integers(0, 4),  # delay of the start, in steps
    st.integers(1, 12),  # duration, in steps
    st.booleans(),  # contiguous
    st.integers(0, 2),  # notice hours (0: reserved)
)
ops = st.lists(
    st.one_of(
        place_ops,
        place_ops,
        st.tuples(st.just("advance"), st.integers(0, 4)),
        st.tuples(st.just("release"), st.integers(0, 99)),
        st.tuples(st.just("fail"), st.integers(0, 10**6)),
        st.tuples(st.just("repair"), st.integers(0, 10**6)),
    ),
    min_size=8,
    max_size=50,
)


def request_of(op: tuple[object, ...], holder: str, clock: int) -> Request:
    _, kind, tenant, model, gpus, delay, length, contiguous, notice = op
    assert isinstance(kind, HoldKind)
    assert isinstance(model, str)
    assert isinstance(gpus, int)
    assert isinstance(delay, int)
    assert isinstance(length, int)
    assert isinstance(tenant, int)
    assert isinstance(notice, int)
    start = clock + STEP * delay
    end = start + STEP * length
    if kind == HoldKind.LEASE:
        return Request(holder, tenant, kind, model, gpus, start, end, interruptible=notice > 0,
                       notice_hours=notice, contiguous=bool(contiguous))  # fmt: skip
    if kind == HoldKind.TRAINING:
        return Request.training(holder, model, gpus, start, end, contiguous=bool(contiguous))
    return Request.experiment(holder, model, min(gpus, 12), start, end)


def run_stream(
    clusters: list[Cluster], stream: list[tuple[object, ...]], spare_share: float
) -> tuple[Placer, list[PreemptionNotice], dict[str, int]]:
    topo = Topology(clusters)
    placer = Placer(topo, spare_share=spare_share, clock=STEP * 100)
    notices: list[PreemptionNotice] = []
    released: dict[str, int] = {}
    placed: list[str] = []
    for i, op in enumerate(stream):
        clock = placer.clock
        if op[0] == "place":
            request = request_of(op, f"h{i}", clock)
            if topo.model(request.gpu_model) is None:
                assert isinstance(placer.place(request), Refusal)
                continue
            verdict = oracle(placer, request)
            result = placer.place(request)
            check_decision(verdict, request, result)
            if isinstance(result, Placement):
                check_block_shape(placer, request, result)
                placed.append(request.holder)
        elif op[0] == "advance":
            assert isinstance(op[1], int)
            placer.advance(clock + STEP * op[1])
        elif op[0] == "release" and placed:
            assert isinstance(op[1], int)
            holder = placed[op[1] % len(placed)]
            placer.release(holder, clock)
            released.setdefault(holder, clock)
        elif op[0] in ("fail", "repair"):
            assert isinstance(op[1], int)
            node = op[1] % topo.nodes
            if op[0] == "fail":
                notices += fail_node(placer, node, clock).notices
            else:
                set_node_state(placer, node, NodeState.UP, clock)
        check_invariants(placer)
        check_index(placer)
    return placer, notices, released


@pytest.mark.parametrize("bulk", [1, 10**9], ids=["array-refresh", "scalar-refresh"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(clusters=fleets(), stream=ops, spare=st.sampled_from([0.0, 0.0, 0.3, 0.5]))
def test_random_streams_keep_every_rule_and_every_promise(
    clusters: list[Cluster],
    stream: list[tuple[object, ...]],
    spare: float,
    bulk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index_module, "BULK", bulk)
    placer, notices, released = run_stream(clusters, stream, spare)
    for notice in notices:
        victim = placer.hold(notice.victim)
        assert victim.request.interruptible
        assert notice.reclaim_at - notice.notice_at >= HOUR * victim.request.notice_hours
        # The victim kept its nodes until reclaim_at unless it was released before.
        kept_until = min(victim.request.end, notice.reclaim_at)
        if released.get(notice.victim, kept_until) >= kept_until:
            assert victim.end >= kept_until


@settings(max_examples=300, deadline=None)
@given(
    clusters=fleets(),
    stream=st.lists(place_ops, min_size=5, max_size=25),
    failures=st.lists(st.integers(0, 10**6), min_size=1, max_size=6),
)
def test_every_failure_ends_in_a_replacement_or_a_recorded_shortfall(
    clusters: list[Cluster], stream: list[tuple[object, ...]], failures: list[int]
) -> None:
    placer, _, _ = run_stream(clusters, stream, 0.25)
    for i, pick in enumerate(failures):
        node = pick % placer.topology.nodes
        at = placer.clock + STEP * i
        placer.advance(at)
        affected = {placer.hold(h).request.holder: (a.gpus, max(at, a.start), a.end)
                    for h in placer.holders() for a in placer.assignments(h)
                    if a.node == node and a.end > at}  # fmt: skip
        outcome = fail_node(placer, node, at)
        answered = {x.holder for x in outcome.replaced} | {x.holder for x in outcome.shortfalls}
        preempted = {n.victim for n in outcome.notices}
        assert set(affected) <= answered | preempted
        for r in outcome.replaced:
            assert r.node != node
        for s in outcome.shortfalls:
            assert s.start >= at
            assert s.gpu_hours > 0
        check_invariants(placer)
        check_index(placer)


@settings(max_examples=250, deadline=None)
@given(
    clusters=fleets(),
    kinds=st.lists(
        st.sampled_from(["firm", "firm", "spot", "experiment", "training"]), min_size=1, max_size=8
    ),
    failures=st.lists(st.integers(0, 10**6), min_size=1, max_size=6),
)
def test_failures_in_a_full_fleet_reclaim_interruptible_capacity_after_notice(
    clusters: list[Cluster], kinds: list[str], failures: list[int]
) -> None:
    topo = Topology(clusters)
    placer = Placer(topo, clock=STEP * 100)
    now, end = placer.clock, placer.clock + STEP * 40
    for i in range(4 * topo.nodes):  # fill every node, one node per request
        model = topo.models[i % len(topo.models)]
        gpn, kind = model.gpus_per_node, kinds[i % len(kinds)]
        if kind == "experiment":
            request = Request.experiment(f"h{i}", model.name, 1 + i % gpn, now, end)
        elif kind == "training":
            request = Request.training(f"h{i}", model.name, gpn, now, end, contiguous=False)
        else:
            spot = kind == "spot"
            request = Request(f"h{i}", 1 + i % 3, HoldKind.LEASE, model.name, gpn, now, end,
                              interruptible=spot, notice_hours=1 + i % 2 if spot else 0,
                              contiguous=i % 2 == 0)  # fmt: skip
        placer.place(request)
    for i, pick in enumerate(failures):
        at = now + STEP * i
        outcome = fail_node(placer, pick % topo.nodes, at)
        for notice in outcome.notices:
            victim = placer.hold(notice.victim).request
            assert victim.interruptible
            assert notice.notice_at == at
            assert notice.reclaim_at == at + HOUR * victim.notice_hours
            assert placer.hold(notice.victim).end == min(victim.end, notice.reclaim_at)
        for r in outcome.replaced:
            assert r.start >= at
            assert not placer.hold(r.holder).request.interruptible or r.source != "reclaimed"
        check_invariants(placer)
        check_index(placer)


@settings(max_examples=150, deadline=None)
@given(clusters=fleets(), stream=ops, later=st.lists(place_ops, min_size=1, max_size=8))
def test_an_engine_restored_from_its_assignments_is_the_same_engine(
    clusters: list[Cluster], stream: list[tuple[object, ...]], later: list[tuple[object, ...]]
) -> None:
    original, _, _ = run_stream(clusters, stream, 0.25)
    copy = Placer(original.topology, spare_share=0.25, clock=original.clock)
    for node in range(original.topology.nodes):
        set_node_state(copy, node, original.node_state(node), copy.clock)
    for holder in original.holders():
        hold = original.hold(holder)
        if hold.end > hold.request.start:  # a hold released before its start left nothing
            request = dataclasses.replace(hold.request, end=hold.end)
            copy.restore(request, original.assignments(holder), tuple(hold.shortfalls))
            assert copy.delivery(holder) == original.delivery(holder)
    check_index(copy)
    for i, op in enumerate(later):
        request = request_of(op, f"later-{i}", original.clock)
        verdicts = [oracle(p, request) if p.topology.model(request.gpu_model) else None
                    for p in (original, copy)]  # fmt: skip
        results = [original.place(request), copy.place(request)]
        if i == 0:  # same state, same answer (ties may go to other nodes)
            assert type(results[0]) is type(results[1])
        for verdict, result in zip(verdicts, results, strict=True):
            if verdict is not None:
                check_decision(verdict, request, result)
    check_invariants(copy)
