"""Property tests of the simulation over random small fleets, leases and experiment streams.

Each check is stated from the promise, not from the simulator's code: every failure ends in a
replacement or a recorded shortfall for all the GPU-time it took; every preemption comes
exactly at its reclaim time, at least notice_hours after the first notice; promised =
delivered + shortfall for every lease, in total and hour by hour; no GPU is ever in two
holds at overlapping times, past entries included.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.operations import (
    ExperimentSettings,
    ExperimentStream,
    Reliability,
    SimEvent,
    Simulator,
    TraceJob,
    hourly_usage,
)
from gpufleet.placement import HOUR, HoldKind, Placer, Request, Topology
from gpufleet.planning.scenario.model import Cluster

T0 = 1_800_000_000 - 1_800_000_000 % HOUR  # an hour boundary
DAY = 24 * HOUR


@st.composite
def fleets(draw: st.DrawFn) -> list[Cluster]:
    gpn = draw(st.sampled_from([1, 2, 4, 8]))
    per_block = draw(st.integers(1, 3))
    return [
        Cluster(name=f"c{i}", gpu_model="A", gpus_per_node=gpn, nodes_per_block=per_block,
                blocks_per_pod=draw(st.integers(1, 4)), pods=draw(st.integers(1, 2)))
        for i in range(draw(st.integers(1, 2)))
    ]  # fmt: skip


leases = st.lists(
    st.tuples(
        st.integers(1, 3),  # tenant
        st.integers(1, 24),  # GPUs
        st.integers(0, 48),  # start, hours after T0
        st.integers(1, 72),  # duration, hours
        st.integers(0, 3),  # notice hours (0: reserved)
        st.booleans(),  # contiguous
    ),
    max_size=8,
)
trace = st.lists(
    st.tuples(
        st.integers(0, 6 * DAY - 1), st.integers(60, 2 * DAY), st.sampled_from([1, 1, 2, 4, 8])
    ),
    max_size=40,
)


def place_leases(placer: Placer, spec: list[tuple[int, int, int, int, int, bool]]) -> None:
    for i, (tenant, gpus, start, hours, notice, contiguous) in enumerate(spec):
        s = T0 + start * HOUR
        e = s + hours * HOUR
        request = Request(
            f"lease-{i}", tenant, HoldKind.LEASE, "A", gpus, s, e,
            interruptible=notice > 0, notice_hours=notice, contiguous=contiguous,
        )  # fmt: skip
        placer.place(request)


def iso_seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clusters=fleets(),
    spec=leases,
    jobs=trace,
    seed=st.integers(0, 2**31),
    rate=st.sampled_from([0.002, 0.01, 0.03]),
    spare=st.sampled_from([0.0, 0.3]),
    cuts=st.lists(st.integers(1, 5 * DAY // HOUR), max_size=3),
)
def test_promises_hold_through_failures_preemptions_and_experiments(
    clusters: list[Cluster],
    spec: list[tuple[int, int, int, int, int, bool]],
    jobs: list[tuple[int, int, int]],
    seed: int,
    rate: float,
    spare: float,
    cuts: list[int],
) -> None:
    placer = Placer(Topology(clusters), spare_share=spare, clock=T0)
    place_leases(placer, spec)
    settings_ = None
    if jobs:
        trace_jobs = [TraceJob(s, d, g) for s, d, g in sorted(jobs)]
        stream = ExperimentStream(trace_jobs, T0, copies=2, seed=seed, period=6 * DAY)
        settings_ = ExperimentSettings(stream, "A", max_wait=DAY)
    sim = Simulator(placer, seed=seed, experiments=settings_,
                    reliability=Reliability(rate, repair_median_hours=3.0))  # fmt: skip
    events: list[SimEvent] = []
    failures = []
    end = T0 + 6 * DAY
    for stop in [*sorted({T0 + c * HOUR for c in cuts}), end]:  # the same run, in chunks
        chunk = sim.run(stop)
        events += chunk.events
        failures += chunk.failures

    for failure in failures:  # every failure: replacement or shortfall, for all it took
        covered: dict[str, int] = defaultdict(int)
        for r in failure.outcome.replaced:
            covered[r.holder] += r.gpus * (r.end - r.start)
        for s in failure.outcome.shortfalls:
            covered[s.holder] += s.gpus * (s.end - s.start)
        assert dict(covered) == {h: v for h, v in failure.lost.items() if v > 0}

    notices: dict[str, list[SimEvent]] = defaultdict(list)
    for e in events:
        if e.kind == "lease.preemption_notice":
            notices[e.subject].append(e)
    for e in events:
        if e.kind == "lease.preempted":
            first = notices[e.subject][0]
            r = placer.hold(e.subject).request
            reclaim = min(iso_seconds(n.data["reclaim_at"]) for n in notices[e.subject])
            assert reclaim == first.at + r.notice_hours * HOUR
            assert e.at == max(reclaim, r.start)  # a lease reclaimed before it began ends then
            assert e.at - iso_seconds(first.data["notice_at"]) >= r.notice_hours * HOUR
    for holder in placer.holders():  # no hold ends early without a notice long enough
        hold = placer.hold(holder)
        r = hold.request
        if r.kind == HoldKind.LEASE and hold.end < r.end:
            assert notices[holder], f"{holder} ended early without a notice"
            assert hold.end >= min(r.start, notices[holder][0].at + r.notice_hours * HOUR)
        d = placer.delivery(holder)
        assert d.promised == d.delivered + d.shortfall, holder

    usage = hourly_usage(placer, T0, end)
    for row in usage:
        assert row.promised == row.delivered + row.shortfall
        assert row.delivered >= 0
        assert row.shortfall >= 0
    per_lease: dict[str, int] = defaultdict(int)
    for row in usage:
        per_lease[row.holder] += row.promised
    for holder, promised in per_lease.items():
        assert promised == placer.delivery(holder).promised  # every lease ends inside the run

    by_node: dict[int, list[tuple[int, int, int, str]]] = defaultdict(list)
    for holder in placer.holders():
        for a in placer.assignments(holder):
            by_node[a.node].append((a.start, a.end, a.gpu_mask, holder))
    for node, held in by_node.items():  # no GPU in two holds at overlapping times
        held.sort()
        for i, (_s1, e1, m1, h1) in enumerate(held):
            for s2, _e2, m2, h2 in held[i + 1 :]:
                if s2 >= e1:
                    break
                assert not (m1 & m2), f"node {node}: {h1} and {h2} share GPUs"


def test_a_busy_small_fleet_sees_every_kind_of_event() -> None:
    """The properties above are not vacuous: with a high failure rate, a firm lease, an
    interruptible one beside it and experiments, every outcome happens."""
    clusters = [Cluster(name="c", gpu_model="A", gpus_per_node=4, nodes_per_block=2,
                        blocks_per_pod=3, pods=1)]  # fmt: skip
    placer = Placer(Topology(clusters), spare_share=0.0, clock=T0)
    place_leases(placer, [(1, 12, 0, 120, 0, True), (2, 8, 0, 120, 2, True)])
    jobs = [TraceJob(i * 3 * HOUR, 2 * HOUR, 1) for i in range(40)]
    stream = ExperimentStream(jobs, T0, period=5 * DAY)
    sim = Simulator(placer, seed=3, experiments=ExperimentSettings(stream, "A"),
                    reliability=Reliability(0.02, repair_median_hours=10.0))  # fmt: skip
    chunk = sim.run(T0 + 5 * DAY)
    kinds = {e.kind for e in chunk.events}
    wanted = {"node.failed", "node.repaired", "lease.node_replaced", "lease.preemption_notice",
              "lease.preempted", "lease.degraded", "sla.shortfall", "lease.started"}  # fmt: skip
    assert wanted <= kinds
    assert chunk.totals.experiments_placed > 0
    assert chunk.totals.healed > 0  # a repaired node ended a shortfall early
    repaired = [e for e in chunk.events if e.data.get("source") == "repaired"]
    assert repaired
    assert 0.0 < chunk.totals.utilisation <= 1.0
