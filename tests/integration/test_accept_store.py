"""The placement store: what a session saves, a fresh process loads exactly as it was."""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.tables_placement import (
    hold_shortfalls,
    node_assignments,
    placement_holds,
    placement_state,
)
from gpufleet.domain.fleet import NodeState
from gpufleet.placement import Placement, Request, fail_node, seconds
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.placement import PlacementCache, placement_session, read_placer
from tests.conftest import EXAMPLES, Actor

NOW = datetime(2027, 1, 4, tzinfo=UTC)


@pytest.fixture
def small(db: Database, operator: Actor) -> Database:
    db.clock = lambda: NOW
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    return db


def _training(holder: str, gpus: int, contiguous: bool = True) -> Request:
    start = seconds(NOW) + 86400
    return Request.training(holder, "GB200", gpus, start, start + 30 * 86400, contiguous)


def _snapshot(db: Database, cache: PlacementCache) -> dict[str, tuple[object, ...]]:
    placer = read_placer(db, cache)
    return {
        h: (
            sorted(map(astuple, placer.assignments(h))),
            sorted(placer.hold(h).shortfalls),
            placer.hold(h).end,
        )
        for h in placer.holders()
    }


def test_saved_holds_load_identically_in_another_process(small: Database) -> None:
    first = PlacementCache()
    with placement_session(small, first) as s:
        placed = [s.placer.place(_training(f"job-{i}", 72 * (i + 1))) for i in range(3)]
        assert all(isinstance(p, Placement) for p in placed)
        s.save(f"job-{i}" for i in range(3))

    second = PlacementCache()
    assert _snapshot(small, second) == _snapshot(small, first)
    assert second.rebuilds == 1
    with small.read() as conn:
        rows = conn.execute(select(func.count()).select_from(node_assignments)).scalar_one()
        version = conn.execute(select(placement_state.c.version)).scalar_one()
    assert rows == sum(len(p.nodes) for p in placed if isinstance(p, Placement))
    assert version == 1


def test_a_failure_moves_the_rows_end_and_adds_the_replacement(small: Database) -> None:
    cache = PlacementCache()
    with placement_session(small, cache) as s:
        placed = s.placer.place(_training("job-a", 72))
        assert isinstance(placed, Placement)
        s.save(["job-a"])
    failed = placed.nodes[0]
    at = placed.start + 3600
    with placement_session(small, cache) as s:
        s.placer.advance(at)
        outcome = fail_node(s.placer, failed, at)
        fleet_repo.set_node_state(s.conn, s.node_id(failed), NodeState.DOWN, "test", s.now)
        s.save({r.holder for r in outcome.replaced} | {x.holder for x in outcome.shortfalls})
    with small.read() as conn:
        rows = conn.execute(
            select(node_assignments).where(node_assignments.c.holder == "job-a")
        ).all()
        shortfalls = conn.execute(select(func.count()).select_from(hold_shortfalls)).scalar_one()
    assert len(rows) == len(placed.nodes) + len(outcome.replaced)
    cut = [r for r in rows if r.node_id == cache.fleet.node_id(failed)] if cache.fleet else []
    assert len(cut) == 1
    assert seconds(cut[0].end.replace(tzinfo=UTC)) == at
    assert shortfalls == len(outcome.shortfalls)
    fresh = PlacementCache()
    assert _snapshot(small, fresh) == _snapshot(small, cache)
    assert fresh.placer is not None
    assert fresh.placer.node_state(failed) == NodeState.DOWN


def test_an_error_inside_a_session_writes_nothing_and_drops_the_engine(small: Database) -> None:
    cache = PlacementCache()

    def place_then_fail() -> None:
        with placement_session(small, cache) as s:
            assert isinstance(s.placer.place(_training("job-x", 72)), Placement)
            s.save(["job-x"])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        place_then_fail()
    assert cache.placer is None
    assert "job-x" not in set(read_placer(small, cache).holders())
    with small.read() as conn:
        assert conn.execute(select(func.count()).select_from(placement_holds)).scalar_one() == 0


def test_a_process_with_an_old_version_catches_up_before_it_decides(small: Database) -> None:
    a, b = PlacementCache(), PlacementCache()
    read_placer(small, a)
    read_placer(small, b)
    with placement_session(small, b) as s:
        # 4 pods x 7 racks (one per pod is spare): every GB200 GPU that can be placed.
        assert isinstance(s.placer.place(_training("job-b", 2016, False)), Placement)
        s.save(["job-b"])
    with placement_session(small, a) as s:
        assert "job-b" in set(s.placer.holders())
        assert not isinstance(s.placer.place(_training("job-a", 72)), Placement)
    assert a.rebuilds == 2  # its engine was empty: rebuilt (nothing to catch up from)
    with placement_session(small, b) as s:
        s.placer.release("job-b", s.clock)
        s.save(["job-b"])
    with placement_session(small, a) as s:  # now only job-b's change is reloaded
        released = s.placer.hold("job-b")
        assert released.end == released.request.start  # released before it began
        assert released.live == 0  # none of its GPUs are held
        assert isinstance(s.placer.place(_training("job-a", 72)), Placement)
    assert (a.rebuilds, a.reloads) == (2, 1)


def test_leases_recorded_from_a_scenario_are_placed_once(small: Database, operator: Actor) -> None:
    first = rentals.place_recorded(small, operator.principal)
    assert first.placed == {"lease-1": 64}  # 512 H100 on 8-GPU nodes
    again = rentals.place_recorded(small, operator.principal)
    assert again.placed == {}
    for lease_id, nodes in first.placed.items():
        view = rentals.get_lease(small, operator.principal, lease_id)
        assert view.state.state == "scheduled"
        assert len({a.node for a in view.assignments}) == nodes
        assert sum(a.gpus for a in view.assignments) == view.lease.gpus
