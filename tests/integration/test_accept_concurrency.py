"""Many operators accepting at once never give the same GPU-hours twice.

Each thread accepts through its own engine cache and its own database connection, as
separate server processes would: only the database's lock on the placement row (and the
version check behind it) keeps them from placing on the same nodes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import text

from gpufleet.domain.errors import Conflict
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.planning.scenario.model import RentalTerms
from gpufleet.services import fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.placement import PlacementCache, read_placer
from tests.conftest import EXAMPLES, Actor, LiveServer, make_tenant

NOW = datetime(2027, 1, 4, tzinfo=UTC)
RACERS = 60
NODES_EACH = 8  # 64 H100 GPUs on 8-GPU nodes

OVERLAPS = text("""
    SELECT count(*) FROM node_assignments a JOIN node_assignments b
      ON a.node_id = b.node_id AND a.id < b.id
     AND a.start < b."end" AND b.start < a."end" AND (a.gpu_mask & b.gpu_mask) <> 0
""")


def _placeable_h100_nodes(db: Database) -> int:
    placer = read_placer(db, PlacementCache())
    span = placer.topology.model("H100")
    assert span is not None
    spare = placer.bookings.spare_block
    blocks = range(span.block_lo, span.block_hi)
    return sum(len(placer.topology.block_nodes(b)) for b in blocks if not spare[b])


def test_concurrent_accepts_racing_for_the_last_capacity(db: Database, operator: Actor) -> None:
    db.clock = lambda: NOW
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    tenants = [make_tenant(db, operator, f"racer-{i}") for i in range(6)]
    terms = RentalTerms.model_validate({
        "gpu_model": "H100", "gpus": 8 * NODES_EACH, "start": "2027-02-01",
        "end": "2027-03-01", "price_per_gpu_hour": 2.0,
    })  # fmt: skip
    ids = [rentals.submit_request(db, tenants[i % 6].principal, terms).id for i in range(RACERS)]
    capacity = _placeable_h100_nodes(db) // NODES_EACH
    assert 0 < capacity < RACERS  # the race is for the last capacity

    won: list[str] = []
    lost: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(RACERS)

    def race(request_id: str) -> None:
        cache = PlacementCache()  # its own engine, as another server process
        start.wait()
        try:
            rentals.accept_request(db, operator.principal, request_id, cache)
            won.append(request_id)
        except Conflict as refused:
            lost.append(refused.message)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=race, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert not failures, failures
    assert len(won) == capacity
    assert len(lost) == RACERS - capacity
    assert all("cannot be placed" in message for message in lost), lost
    with db.read() as conn:
        assert conn.execute(OVERLAPS).scalar_one() == 0
        leases = conn.execute(text("SELECT count(*) FROM leases WHERE state = 'scheduled'"))
        assert leases.scalar_one() == capacity
        rows = conn.execute(text("SELECT count(*) FROM node_assignments")).scalar_one()
        assert rows == capacity * NODES_EACH
        pending = conn.execute(
            text(
                "SELECT count(*) FROM rental_requests WHERE status = 'pending' AND id LIKE 'req-%'"
            )
        ).scalar_one()
        assert pending == RACERS - capacity


def test_concurrent_accepts_over_http_to_one_server(
    live_server: LiveServer, operator: Actor
) -> None:
    db = live_server.db
    db.clock = lambda: NOW
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    tenant = make_tenant(db, operator, "racer")
    terms = RentalTerms.model_validate({
        "gpu_model": "H100", "gpus": 8 * NODES_EACH, "start": "2027-02-01",
        "end": "2027-03-01", "price_per_gpu_hour": 2.0,
    })  # fmt: skip
    ids = [rentals.submit_request(db, tenant.principal, terms).id for _ in range(RACERS)]
    capacity = _placeable_h100_nodes(db) // NODES_EACH
    start = threading.Barrier(RACERS)
    answers: list[int] = []

    def race(request_id: str) -> None:
        with live_server.client(operator) as client:
            start.wait()
            answers.append(client.post(f"/v1/rental-requests/{request_id}/accept").status_code)

    threads = [threading.Thread(target=race, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert sorted(answers) == [200] * capacity + [409] * (RACERS - capacity)
    with db.read() as conn:
        assert conn.execute(OVERLAPS).scalar_one() == 0
