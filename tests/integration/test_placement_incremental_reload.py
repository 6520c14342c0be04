"""Two processes' engines on one database (two caches): after random interleaved writes by
either, the engine that caught up hold by hold (`placement_holds.version`) equals a cold
load of the store, on both databases: same live holds, same entries on every node, same
free GPUs and index. Likewise after simulated days run by another process."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import upgrade
from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict
from gpufleet.domain.fleet import NodeState
from gpufleet.operations import Reliability
from gpufleet.placement import HOUR, Placement, Placer, Request
from gpufleet.planning.scenario import parse_scenario
from gpufleet.services import fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.operations import AdvanceOptions, advance, operator_node_state
from gpufleet.services.placement import PlacementCache, placement_session, read_placer
from tests.conftest import Actor, _postgres_database, make_operator
from tests.integration.test_operations_service import NOW as OPS_START
from tests.integration.test_operations_service import setup_fleet
from tests.unit.test_placement_oracle import check_index, check_invariants

NOW = datetime(2027, 1, 4, tzinfo=UTC)
Fresh = Callable[[], AbstractContextManager[Database]]

# Small enough that writes collide: 24 H100 nodes in blocks of 2, 16 GB200 nodes in blocks of 4.
SCENARIO = {
    "version": 1, "name": "reload", "horizon": {"start": "2027-01-04", "period": "week",
                                                "periods": 8},
    "gpu_models": [{"name": "H100"}, {"name": "GB200"}],
    "clusters": [
        {"name": "h", "gpu_model": "H100", "gpus_per_node": 8, "nodes_per_block": 2,
         "blocks_per_pod": 4, "pods": 3},
        {"name": "g", "gpu_model": "GB200", "gpus_per_node": 4, "nodes_per_block": 4,
         "blocks_per_pod": 2, "pods": 2},
    ],
    "rental_requests": [
        {"id": f"rfq-{i}", "customer": f"cust-{i % 3}", "gpu_model": "H100" if i % 3 else "GB200",
         "gpus": 8 * (1 + i % 4), "start": f"2027-01-{5 + i % 5:02d}",
         "end": f"2027-01-{12 + i % 9:02d}", "price_per_gpu_hour": 2.0,
         **({"class": "interruptible", "notice_hours": 2} if i % 4 == 1 else {})}
        for i in range(8)
    ],
}  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Fresh, Principal]]:
    """A factory of fresh databases holding the scenario above (each a copy of one prepared
    database: hypothesis runs many examples), and the operator of them all."""
    if request.param == "sqlite":
        prepared = tmp_path / "prepared.db"
        operator = _prepare(f"sqlite:///{prepared}")
        copies = iter(range(10**6))

        @contextmanager
        def sqlite_copy() -> Iterator[Database]:
            path = tmp_path / f"copy-{next(copies)}.db"
            shutil.copy(prepared, path)
            db = Database(make_engine(f"sqlite:///{path}"), clock=lambda: NOW)
            try:
                yield db
            finally:
                db.engine.dispose()
                path.unlink()

        yield sqlite_copy, operator
        return
    clone = _postgres_database(request.getfixturevalue("pg_template"))
    url = next(clone)  # the prepared database, dropped when `clone` closes
    operator = _prepare(url)
    base = make_url(url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    numbers = iter(range(10**6))

    @contextmanager
    def postgres_copy() -> Iterator[Database]:
        name = f"{base.database}_{next(numbers)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"'))
        db = Database(make_engine(base.set(database=name).render_as_string(False)),
                      clock=lambda: NOW)  # fmt: skip
        try:
            yield db
        finally:
            db.engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    try:
        yield postgres_copy, operator
    finally:
        admin.dispose()
        clone.close()


def _prepare(url: str) -> Principal:
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        upgrade(engine)
    db = Database(engine, clock=lambda: NOW)
    operator = make_operator(db)
    fleet.import_scenario(db, operator.principal, parse_scenario(SCENARIO))
    engine.dispose()  # a template must have no connections; SQLite's WAL is folded back
    return operator.principal


# -- random writes ----------------------------------------------------------------------------
writes = st.lists(
    st.tuples(
        st.sampled_from("ab"),  # which process writes
        st.sampled_from(["training", "experiment", "accept", "release", "advance", "down", "up"]),
        st.integers(0, 10**6),  # what it picks (a node, a holder, a size...)
        st.integers(0, 30),  # hours: a delay, a duration, a clock step
    ),
    min_size=4,
    max_size=24,
)


def _write(db: Database, cache: PlacementCache, operator: Principal, op: tuple[Any, ...],
           n: int) -> None:  # fmt: skip
    _, kind, pick, hours = op
    if kind == "accept":
        with suppress(Conflict):  # decided already, or no room: nothing was written
            rentals.accept_request(db, operator, f"rfq-{pick % 8}", cache)
        return
    with placement_session(db, cache) as s:
        placer = s.placer
        if kind in ("training", "experiment"):
            model = "H100" if pick % 2 else "GB200"
            start = placer.clock + HOUR * (hours % 6)
            end = start + HOUR * (1 + hours)
            if kind == "training":
                gpus = 4 * (1 + pick % 12)
                request = Request.training(f"job-{n}", model, gpus, start, end, pick % 3 == 0)
            else:
                request = Request.experiment(f"exp-{n}", model, 1 + pick % 4, start, end)
            if isinstance(placer.place(request), Placement):
                s.save([request.holder])
        elif kind == "release":
            live = sorted(h for h, hold in placer.bookings.holds.items() if hold.end > s.clock)
            if live:
                holder = live[pick % len(live)]
                placer.release(holder, s.clock)
                s.save([holder])
        elif kind == "advance":
            placer.advance(s.clock + HOUR * hours)
        else:
            node = pick % placer.topology.nodes
            state = NodeState.DOWN if kind == "down" else NodeState.UP
            operator_node_state(s, s.node_id(node), state, "test")
            fleet_repo.set_node_state(s.conn, s.node_id(node), state, "test", s.now)


# -- what must be equal -----------------------------------------------------------------------
def _snapshot(placer: Placer) -> dict[str, Any]:
    """Everything a decision reads: live holds as stored, every node's entries, free GPUs."""
    b, clock = placer.bookings, placer.clock
    holds = {
        holder: (hold.request, hold.end, sorted(map(astuple, hold.assignments())),
                 sorted(hold.shortfalls))
        for holder, hold in b.holds.items()
        if hold.end > clock
    }  # fmt: skip
    nodes = [
        sorted((b.hold_of(e).request.holder, e.mask, e.start, e.end) for e in b.calendar.entries(n))
        for n in range(placer.topology.nodes)
    ]
    return {
        "clock": clock, "holds": holds, "nodes": nodes, "state": b.state.tolist(),
        "free": b.index.free_bits.tolist(), "idle": b.index.idle.tolist(),
        "owners": b.index.block_owner.tolist(), "empty": b.index.pod_empty.tolist(),
    }  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(stream=writes, share=st.sampled_from([math.inf, math.inf, 0.5]))
def test_an_engine_caught_up_hold_by_hold_equals_a_cold_load(
    fresh: tuple[Fresh, Principal], stream: list[tuple[Any, ...]], share: float
) -> None:
    new_database, operator = fresh
    with new_database() as db:
        caches = {"a": PlacementCache(reload_share=share), "b": PlacementCache(reload_share=share)}
        for cache in caches.values():
            read_placer(db, cache)
        for n, op in enumerate(stream):
            _write(db, caches[op[0]], operator, op, n)
            other = caches["b" if op[0] == "a" else "a"]
            rebuilds, reloads, kept = other.rebuilds, other.reloads, other.placer is not None
            caught_up = read_placer(db, other)
            cold = read_placer(db, PlacementCache())
            assert _snapshot(caught_up) == _snapshot(cold)
            writer = caches[op[0]]
            if writer.placer is not None:  # kept after its write, even a refused one
                assert _snapshot(writer.placer) == _snapshot(cold)
            check_index(caught_up)
            check_invariants(caught_up)
            if kept and share == math.inf:  # no error dropped it: caught up hold by hold
                assert other.rebuilds == rebuilds
                assert other.reloads - reloads in (0, 1)


def test_an_engine_catches_up_with_simulated_days_run_by_another_process(
    db: Database, operator: Actor
) -> None:
    """The writes the property test does not make: a simulation chunk's failures,
    replacements, experiments and lease starts, saved by another process's engine."""
    setup_fleet(db, operator)
    other = PlacementCache(reload_share=math.inf)
    read_placer(db, other)
    flaky = Reliability(failures_per_gpu_hour=0.002, repair_median_hours=6.0)
    for day in (1, 2, 3):
        options = AdvanceOptions(OPS_START + timedelta(days=day), seed=3, reliability=flaky)
        advance(db, operator.principal, options)  # this process's own cache: the writer
        rebuilds = other.rebuilds
        caught_up = read_placer(db, other)
        assert _snapshot(caught_up) == _snapshot(read_placer(db, PlacementCache()))
        check_index(caught_up)
        assert (other.rebuilds, other.reloads) == (rebuilds, day)
