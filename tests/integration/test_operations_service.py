"""The simulated cluster on both databases: advance in chunks, events at simulated times,
hourly usage for billing, node states, idempotent and resumable runs, and the operator's
node changes going through the engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import upgrade
from gpufleet.adapters.db.tables import events, leases, nodes
from gpufleet.adapters.db.tables_operations import lease_usage_hours
from gpufleet.adapters.db.tables_placement import node_assignments
from gpufleet.domain.errors import Conflict, InvalidInput
from gpufleet.domain.fleet import NodeState
from gpufleet.domain.timeutil import to_utc
from gpufleet.operations import Reliability
from gpufleet.planning.scenario import load_scenario_file, parse_scenario
from gpufleet.services import fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.operations import AdvanceOptions, advance, status
from tests.conftest import EXAMPLES, Actor, make_operator

NOW = datetime(2027, 1, 4, tzinfo=UTC)
FLAKY = Reliability(failures_per_gpu_hour=0.0005, repair_median_hours=6.0)  # ~1.5 an hour


def setup_fleet(db: Database, operator: Actor) -> None:
    db.clock = lambda: NOW  # type: ignore[method-assign]
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    for request_id in ("rfq-2", "rfq-1"):  # interruptible from 01-11, reserved from 02-01
        rentals.accept_request(db, operator.principal, request_id)


def rows(db: Database, query: Any) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(query))


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_advance_runs_leases_failures_and_metering(db: Database, operator: Actor) -> None:
    setup_fleet(db, operator)
    until = NOW + timedelta(days=9, minutes=30)  # taken down to the whole hour

    done = advance(db, operator.principal,
                   AdvanceOptions(until, seed=5, reliability=FLAKY, experiments=False))  # fmt: skip

    assert done.clock == NOW + timedelta(days=9)
    assert done.run_status == "idle"
    assert done.metered_until == done.clock
    totals = done.totals
    assert totals["failures"] > 50
    assert totals["leases_started"] == 2  # lease-1 (recorded) on 01-04, rfq-2's on 01-11
    assert 0.0 < totals["utilisation"] < 1.0
    kinds = dict(rows(db, select(events.c.kind, func.count()).group_by(events.c.kind)))
    assert kinds["node.failed"] == totals["failures"]
    assert kinds["node.repaired"] == totals["repairs"]
    assert kinds["lease.started"] == 2
    assert all(t is None for (t,) in rows(db, select(events.c.tenant_id).where(
        events.c.kind.in_(["node.failed", "node.repaired"]))))  # fmt: skip
    rfq2 = select(leases.c.id).where(leases.c.request_id == "rfq-2").scalar_subquery()
    started = rows(db, select(events.c.at, events.c.subject)
                   .where(events.c.kind == "lease.started", events.c.subject == rfq2))  # fmt: skip
    assert started[0].at.replace(tzinfo=UTC) == datetime(2027, 1, 11, tzinfo=UTC)
    lease_id = started[0].subject
    state = rows(db, select(leases.c.state).where(leases.c.id == lease_id))
    assert state[0].state == "active"

    usage = rows(db, select(lease_usage_hours).where(lease_usage_hours.c.lease_id == lease_id))
    assert len(usage) == (9 - 7) * 24  # 01-11 to 01-13, whole hours
    for u in usage:
        assert u.promised_gpu_seconds == 768 * 3600
        assert u.promised_gpu_seconds == u.delivered_gpu_seconds + u.shortfall_gpu_seconds
    down = rows(db, select(func.count()).select_from(nodes).where(nodes.c.state == "down"))
    assert down[0][0] == done.pending_repairs


def test_advancing_again_to_the_same_time_changes_nothing(db: Database, operator: Actor) -> None:
    setup_fleet(db, operator)
    options = AdvanceOptions(NOW + timedelta(days=8), seed=1, reliability=FLAKY,
                             experiments=False)  # fmt: skip
    advance(db, operator.principal, options)
    before = (count(db, events), count(db, lease_usage_hours), count(db, node_assignments))

    again = advance(db, operator.principal, options)

    assert again.clock == NOW + timedelta(days=8)
    assert (count(db, events), count(db, lease_usage_hours), count(db, node_assignments)) == before
    with pytest.raises(InvalidInput, match="only moves forward"):
        advance(db, operator.principal, AdvanceOptions(NOW, seed=1))


def _history(db: Database) -> list[tuple[Any, ...]]:
    """Simulated events, leases named by their request (lease ids are random)."""
    names = dict(rows(db, select(leases.c.id, leases.c.request_id)))
    found = rows(db, select(events.c.at, events.c.kind, events.c.subject)
                 .where(events.c.at > NOW).order_by(events.c.id))  # fmt: skip
    return [(to_utc(r.at), r.kind, names.get(r.subject, r.subject)) for r in found]


def test_a_run_in_two_calls_gives_what_one_call_gives(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    """Resumable: chunks end on a fixed grid and draw from (seed, chunk start)."""
    setup_fleet(db, operator)
    engine = make_engine(f"sqlite:///{tmp_path / 'second.db'}")
    upgrade(engine)
    sqlite_db = Database(engine)
    other = make_operator(sqlite_db)
    setup_fleet(sqlite_db, other)
    end = NOW + timedelta(days=9)
    options = AdvanceOptions(end, seed=9, reliability=FLAKY, experiments=False)
    advance(db, operator.principal, options)
    halfway = AdvanceOptions(NOW + timedelta(days=4), seed=9, reliability=FLAKY, experiments=False)
    advance(sqlite_db, other.principal, halfway)
    advance(sqlite_db, other.principal, options)

    assert _history(db) == _history(sqlite_db)
    assert status(db, operator.principal).totals == status(sqlite_db, other.principal).totals
    engine.dispose()


def test_experiments_fill_idle_capacity_and_are_stored_as_holds(
    db: Database, operator: Actor
) -> None:
    setup_fleet(db, operator)
    options = AdvanceOptions(NOW + timedelta(hours=12), seed=2, reliability=FLAKY)
    done = advance(db, operator.principal, options)
    t = done.totals
    assert done.experiment_model == "H100"  # the GB200 racks come online in February
    assert t["experiments_submitted"] > 100
    assert t["experiments_placed"] >= t["experiments_submitted"] - t["experiments_refused"]
    assert t["busy_gpu_seconds"] > 0


def test_only_one_run_at_a_time(db: Database, operator: Actor) -> None:
    setup_fleet(db, operator)
    from gpufleet.services.operations import start_advance

    start_advance(db, operator.principal, AdvanceOptions(NOW + timedelta(days=1)))
    with pytest.raises(Conflict, match="going on"):
        start_advance(db, operator.principal, AdvanceOptions(NOW + timedelta(days=2)))


def test_an_operator_marking_a_node_down_moves_its_lease_like_a_failure(
    db: Database, operator: Actor
) -> None:
    setup_fleet(db, operator)
    advance(db, operator.principal, AdvanceOptions(NOW + timedelta(days=8), seed=4,
                                                   reliability=Reliability(0.0),
                                                   experiments=False))  # fmt: skip
    lease_id = rows(db, select(leases.c.id).where(leases.c.request_id == "rfq-2"))[0].id
    live = rows(db, select(node_assignments.c.node_id).where(
        node_assignments.c.holder == lease_id))  # fmt: skip
    node_id = live[0].node_id

    fleet.set_node_state(db, operator.principal, node_id, NodeState.DOWN, "bad NIC")

    after = rows(db, select(node_assignments).where(node_assignments.c.holder == lease_id))
    on_failed = [a for a in after if a.node_id == node_id]
    assert on_failed
    assert all(a.end.replace(tzinfo=UTC) == NOW + timedelta(days=8) for a in on_failed)
    kinds = [k for (k,) in rows(db, select(events.c.kind).where(events.c.subject == lease_id))]
    assert "lease.node_replaced" in kinds
    replaced = sum(a.gpus for a in after if a.end.replace(tzinfo=UTC) > NOW + timedelta(days=8))
    assert replaced == 768  # the lease still has all its GPUs from the failure on


def test_experiments_start_when_the_fleet_arrives_after_the_first_status(
    db: Database, operator: Actor
) -> None:
    db.clock = lambda: NOW  # type: ignore[method-assign]
    assert status(db, operator.principal).experiment_model is None  # no fleet yet
    setup_fleet(db, operator)

    options = AdvanceOptions(NOW + timedelta(hours=6), seed=2, experiment_copies=2)
    done = advance(db, operator.principal, options)

    assert done.experiment_model == "H100"
    assert done.totals["experiments_submitted"] > 100


def _full_fleet(db: Database, operator: Actor) -> None:
    """One pod of four 8-GPU nodes (one spare block), three firm leases filling the rest."""
    db.clock = lambda: NOW  # type: ignore[method-assign]
    rentals_ = [{"id": f"rfq-{c}", "customer": f"cust-{c}", "gpu_model": "H100", "gpus": 8,
                 "start": "2027-01-05", "end": "2027-02-01", "price_per_gpu_hour": 2.0}
                for c in "abc"]  # fmt: skip
    scenario = parse_scenario({
        "version": 1, "name": "tiny", "horizon": {"start": "2027-01-04", "period": "week",
                                                  "periods": 8},
        "gpu_models": [{"name": "H100"}],
        "clusters": [{"name": "t", "gpu_model": "H100", "gpus_per_node": 8,
                      "nodes_per_block": 1, "blocks_per_pod": 4, "pods": 1}],
        "rental_requests": rentals_,
    })  # fmt: skip
    fleet.import_scenario(db, operator.principal, scenario)
    for r in rentals_:
        rentals.accept_request(db, operator.principal, str(r["id"]))


def _live_nodes(db: Database, lease_id: str, after: datetime) -> list[int]:
    found = rows(db, select(node_assignments.c.node_id, node_assignments.c.end).where(
        node_assignments.c.holder == lease_id))  # fmt: skip
    return [r.node_id for r in found if to_utc(r.end) > after]


def test_a_node_the_operator_brings_back_up_ends_a_leases_shortfall(
    db: Database, operator: Actor
) -> None:
    _full_fleet(db, operator)
    quiet = AdvanceOptions(NOW + timedelta(days=2), seed=1, reliability=Reliability(0.0),
                           experiments=False)  # fmt: skip
    advance(db, operator.principal, quiet)
    lease_id = rows(db, select(leases.c.id).where(leases.c.request_id == "rfq-a"))[0].id
    clock = NOW + timedelta(days=2)
    [first] = _live_nodes(db, lease_id, clock)
    fleet.set_node_state(db, operator.principal, first, NodeState.DOWN, "PSU")
    [spare] = _live_nodes(db, lease_id, clock)  # the pod's spare took over
    assert spare != first
    fleet.set_node_state(db, operator.principal, spare, NodeState.MAINTENANCE, "firmware")
    assert _live_nodes(db, lease_id, clock) == []  # nothing left: the rest is shortfall
    kinds = [k for (k,) in rows(db, select(events.c.kind).where(events.c.subject == lease_id))]
    assert kinds.count("sla.shortfall") == 1

    fleet.set_node_state(db, operator.principal, first, NodeState.UP, "fixed")

    assert _live_nodes(db, lease_id, clock) == [first]
    back = rows(db, select(events.c.data, events.c.tenant_id).where(events.c.subject == lease_id)
                .where(events.c.kind == "lease.node_replaced").order_by(events.c.id))  # fmt: skip
    assert back[-1].data["source"] == "repaired"
    assert back[-1].tenant_id is not None


def _recorded_fleet(db: Database, operator: Actor) -> None:
    """One pod of four 8-GPU nodes (one a spare, which a signed lease may take: ADR 0011):
    room for 32 GPUs, leases of 16 and 24."""
    db.clock = lambda: NOW  # type: ignore[method-assign]
    signed = [{"id": f"lease-{c}", "customer": f"cust-{c}", "gpu_model": "H100", "gpus": gpus,
               "start": "2027-01-05", "end": "2027-02-01", "price_per_gpu_hour": 2.0}
              for c, gpus in (("a", 16), ("b", 24))]  # fmt: skip
    scenario = parse_scenario({
        "version": 1, "name": "tiny", "horizon": {"start": "2027-01-04", "period": "week",
                                                  "periods": 8},
        "gpu_models": [{"name": "H100"}],
        "clusters": [{"name": "t", "gpu_model": "H100", "gpus_per_node": 8,
                      "nodes_per_block": 1, "blocks_per_pod": 4, "pods": 1}],
        "leases": signed,
    })  # fmt: skip
    fleet.import_scenario(db, operator.principal, scenario)


def _lease_states(db: Database) -> dict[str, str | None]:
    return dict(rows(db, select(leases.c.id, leases.c.state)))


def test_a_run_places_the_recorded_leases_first_and_names_those_that_do_not_fit(
    db: Database, operator: Actor
) -> None:
    _recorded_fleet(db, operator)
    assert _lease_states(db) == {"lease-a": None, "lease-b": None}
    quiet = AdvanceOptions(NOW + timedelta(days=3), seed=1, reliability=Reliability(0.0),
                           experiments=False)  # fmt: skip

    done = advance(db, operator.principal, quiet)

    assert _lease_states(db) == {"lease-a": "active", "lease-b": "unplaced"}
    assert done.totals["leases_started"] == 1  # the simulation ran lease-a from 01-05
    assert _live_nodes(db, "lease-a", NOW + timedelta(days=3)) != []
    assert _live_nodes(db, "lease-b", NOW) == []
    unplaced = rows(db, select(events.c.subject, events.c.tenant_id, events.c.data)
                    .where(events.c.kind == "lease.unplaced"))  # fmt: skip
    assert [(u.subject, u.tenant_id) for u in unplaced] == [("lease-b", None)]  # operator's
    assert unplaced[0].data["refusal"] == "not_enough_capacity"

    advance(db, operator.principal, replace(quiet, until=NOW + timedelta(days=4)))
    again = rows(db, select(func.count()).where(events.c.kind == "lease.unplaced"))
    assert again[0][0] == 1  # a run does not repeat a refusal; the operator retries

    retried = rentals.place_recorded(db, operator.principal)
    assert retried.placed == {}
    assert list(retried.refused) == ["lease-b"]
