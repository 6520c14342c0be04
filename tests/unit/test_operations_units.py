"""The parts of the simulation one at a time: the failure rate, the experiment stream,
hourly metering, and a repaired node taking a shortfall back."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from gpufleet.cli.demo_operations import simulate_weeks
from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.fleet import NodeState
from gpufleet.operations import (
    LLAMA3_FAILURES_PER_GPU_HOUR,
    ExperimentStream,
    Reliability,
    SimState,
    Simulator,
    TraceJob,
    experiment_trace,
    hourly_usage,
    load_trace,
    philly,
)
from gpufleet.placement import HOUR, HoldKind, Placer, Request, Topology, fail_node
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.planning.scenario.model import Cluster
from tests.conftest import EXAMPLES

T0 = 1_800_000_000 - 1_800_000_000 % HOUR
DAY = 24 * HOUR
PACKAGED = philly.PACKAGED


def tiny(nodes: int = 2) -> Topology:
    return Topology([Cluster(name="c", gpu_model="A", gpus_per_node=8, nodes_per_block=1,
                             blocks_per_pod=nodes, pods=1)])  # fmt: skip


def lease(holder: str, gpus: int, start: int, end: int, tenant: int = 1) -> Request:
    return Request(holder, tenant, HoldKind.LEASE, "A", gpus, start, end)


def test_the_default_failure_rate_is_llama_3s() -> None:
    assert pytest.approx(419 / (54 * 24 * 16384)) == LLAMA3_FAILURES_PER_GPU_HOUR
    assert 1 / Reliability().node_failures_per_hour(8) / 24 == pytest.approx(264, abs=1)
    with pytest.raises(InvalidInput, match="repair_median_hours"):
        Reliability(repair_median_hours=0)


def test_repair_times_have_the_median_asked_for() -> None:
    rng = np.random.default_rng(1)
    times = [Reliability(repair_median_hours=10).repair_seconds(rng) for _ in range(4001)]
    assert np.median(times) / HOUR == pytest.approx(10, rel=0.1)


def test_the_packaged_excerpt_is_one_small_day_of_philly_jobs() -> None:
    jobs = load_trace()
    assert len(jobs) == 3_712  # 2017-10-20, the trace's busiest day
    assert {j.gpus for j in jobs} <= {1, 2, 4, 8}
    assert jobs[0].submit >= 0
    assert jobs[-1].submit < 24 * HOUR
    assert (resources.files("gpufleet") / "data" / PACKAGED).stat().st_size <= 40_000


def test_the_trace_comes_from_the_environment_else_the_shared_table_else_the_excerpt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "shared" / "data" / "philly.csv"
    table.parent.mkdir(parents=True)
    table.write_text(
        "timestamp,duration,num_gpus,gpu_time,cluster\n"
        "2017-09-30 10:00:00,50.0,1,50.0,a\n"  # before the first dense week: left out
        "2017-10-02 01:00:00,120.4,8,963.2,a\n"
        "2017-10-03 00:00:30,60.0,2,120.0,b\n"
    )
    deep = tmp_path / "repo" / "sub"
    deep.mkdir(parents=True)
    monkeypatch.delenv(philly.ENV, raising=False)
    found = experiment_trace(start=deep)  # shared/data/philly.csv two levels up
    assert found.kind == "file"
    assert found.path == str(table)
    assert [(j.submit, j.duration, j.gpus) for j in found.jobs] == [
        (HOUR, 120, 8), (DAY + 30, 60, 2)]  # fmt: skip
    assert found.period == 2 * DAY  # whole days past the last submit
    assert str(table) in found.label
    assert "CC-BY-4.0" in found.label

    monkeypatch.setenv(philly.ENV, str(tmp_path / "missing.csv"))
    excerpt = experiment_trace(start=deep)  # named but missing: the excerpt, never the table
    assert excerpt.kind == "excerpt"
    assert excerpt.period == DAY
    assert "missing.csv not found" in excerpt.label
    assert "replayed every day" in excerpt.label

    own = tmp_path / "own.csv"
    own.write_text("submit_s,duration_s,gpus\n5,10,4\n")
    monkeypatch.setenv(philly.ENV, str(own))
    assert experiment_trace().jobs == (TraceJob(5, 10, 4),)

    own.write_text("when,gpus\n1,2\n")
    monkeypatch.setenv(philly.ENV, str(own))
    with pytest.raises(InvalidInput, match="columns"):
        experiment_trace()


def test_a_stream_repeats_its_trace_and_copies_it_with_unique_names() -> None:
    jobs = [TraceJob(0, 60, 1), TraceJob(HOUR, 60, 2)]
    one = ExperimentStream(jobs, T0, period=2 * HOUR)
    assert [(a.at - T0, a.gpus) for a in one.between(T0, T0 + 5 * HOUR)] == [
        (0, 1), (HOUR, 2), (2 * HOUR, 1), (3 * HOUR, 2), (4 * HOUR, 1)]  # fmt: skip
    assert one.between(T0 - 10 * HOUR, T0) == []  # nothing before the origin
    three = ExperimentStream(jobs, T0, copies=3, seed=4, period=2 * HOUR)
    arrivals = three.between(T0, T0 + 10 * HOUR)
    assert len({a.name for a in arrivals}) == len(arrivals)
    assert len(arrivals) >= 2.5 * len(one.between(T0, T0 + 10 * HOUR))
    split = three.between(T0, T0 + 3 * HOUR) + three.between(T0 + 3 * HOUR, T0 + 10 * HOUR)
    assert split == arrivals  # chunks see each arrival once


def test_hourly_usage_splits_a_failure_into_delivered_and_shortfall_hours() -> None:
    placer = Placer(tiny(1), clock=T0)
    placer.place(lease("l", 8, T0, T0 + 4 * HOUR))
    outcome = fail_node(placer, 0, T0 + HOUR + 900)  # no other node: shortfall to the end
    assert outcome.shortfalls
    rows = hourly_usage(placer, T0, T0 + 4 * HOUR)
    assert [(r.promised, r.delivered, r.shortfall) for r in rows] == [
        (8 * HOUR, 8 * HOUR, 0),
        (8 * HOUR, 8 * 900, 8 * (HOUR - 900)),
        (8 * HOUR, 0, 8 * HOUR),
        (8 * HOUR, 0, 8 * HOUR),
    ]
    assert hourly_usage(placer, T0, T0 + 2 * HOUR + 5) == rows[:2]  # only hours that are over


def test_a_repaired_node_takes_back_the_shortfall_of_a_lease() -> None:
    placer = Placer(tiny(1), clock=T0)
    placer.place(lease("l", 8, T0, T0 + 10 * HOUR))
    state = SimState()
    sim = Simulator(placer, seed=0, reliability=Reliability(0.0), state=state)
    outcome = fail_node(placer, 0, T0 + HOUR)
    assert outcome.shortfalls[0].end == T0 + 10 * HOUR  # no replacement: all the rest
    state.repairs[0] = T0 + 3 * HOUR
    state.short.add("l")

    chunk = sim.run(T0 + 10 * HOUR)

    assert placer.node_state(0) is NodeState.UP
    d = placer.delivery("l")
    assert d.shortfall == 8 * 2 * HOUR  # only while the node was down
    assert d.promised == d.delivered + d.shortfall
    assert chunk.totals.healed == 1
    [back] = [e for e in chunk.events if e.kind == "lease.node_replaced"]
    assert back.data["source"] == "repaired"
    assert back.at == T0 + 3 * HOUR


def test_the_demo_places_the_contracts_and_simulates_the_busiest_weeks() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    demo = simulate_weeks(scenario, ["rfq-1", "rfq-2", "rfq-3"], weeks=2, copies=1, quiet=True)

    assert demo.contracts == 1 + 3  # lease-1 and the three accepted requests
    assert demo.placed + sum(len(ids) for ids in demo.refused.values()) == demo.contracts
    assert demo.end - demo.start == 2 * 7 * 24 * HOUR
    t = demo.totals
    assert t.experiments_submitted > 1000
    assert 0.0 < t.utilisation <= 1.0
    assert demo.usage_rows > 0
    assert demo.usage_balanced
    out = demo.to_dict()
    assert out["totals"]["failures"] == t.failures
    assert out["window"]["start"].endswith("Z")
    assert out["experiment_trace"] == experiment_trace().label  # says which trace it used


def test_a_node_freed_by_an_ended_lease_takes_back_another_leases_shortfall() -> None:
    placer = Placer(tiny(2), clock=T0)
    placer.place(lease("long", 8, T0, T0 + 10 * HOUR, tenant=1))
    placer.place(lease("short", 8, T0, T0 + 3 * HOUR, tenant=2))
    [long_node] = {a.node for a in placer.assignments("long")}
    outcome = fail_node(placer, long_node, T0 + HOUR)  # the other node is taken: no replacement
    assert [s.holder for s in outcome.shortfalls] == ["long"]
    sim = Simulator(placer, seed=0, reliability=Reliability(0.0), state=SimState(short={"long"}))

    # The freed node is offered when the simulation next looks (its next event; here the end
    # of a chunk); the failed node is never repaired.
    events = sim.run(T0 + 3 * HOUR).events + sim.run(T0 + 10 * HOUR).events

    d = placer.delivery("long")
    assert d.shortfall == 8 * 2 * HOUR  # from the failure until "short" ended
    assert d.promised == d.delivered + d.shortfall
    [back] = [e for e in events if e.kind == "lease.node_replaced"]
    assert (back.data["source"], back.at) == ("freed", T0 + 3 * HOUR)
