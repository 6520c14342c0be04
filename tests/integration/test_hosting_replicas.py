"""Replicas hold capacity: every replica is a deployment_replicas row, and a GPU replica is a
placement on the fleet held by the internal tenant `hosting`, given back when it stops."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from gpufleet.adapters.db.tables_hosting import deployment_replicas, hosted_models
from gpufleet.domain.errors import Unavailable
from gpufleet.hosting import repo
from gpufleet.hosting.backends.transformers_backend import TransformersPool
from gpufleet.hosting.backends.vllm_backend import VllmPool
from gpufleet.hosting.catalog import Deployment
from gpufleet.hosting.replicas import Ledger, holder_name
from gpufleet.hosting.schemas import DeploymentCreate, ModelCreate
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import fleet, hosting
from gpufleet.services.database import Database
from gpufleet.services.placement import read_placer
from tests.conftest import EXAMPLES, Actor


def _deployment(db: Database, operator: Actor, gpus: int) -> Ledger:
    principal = operator.principal
    fleet.import_scenario(db, principal, load_scenario_file(EXAMPLES / "small.yaml"))
    hosting.create_model(
        db,
        principal,
        ModelCreate(
            name="big",
            source="url:http://127.0.0.1:9",
            backend="vllm",
            gpu_model="H100",
            gpus_per_replica=gpus,
        ),
    )
    hosting.create_deployment(db, principal, DeploymentCreate(name="big", model="big"))
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "big")
    assert deployment is not None
    return Ledger(db, deployment)


def test_a_gpu_replica_is_a_placement_given_back_when_it_stops(
    db: Database, operator: Actor
) -> None:
    ledger = _deployment(db, operator, gpus=16)
    replica = ledger.started()
    holder = holder_name("big", replica)
    placer = read_placer(db)
    assert holder in set(placer.holders())
    held = placer.hold(holder)
    assert sum(a.gpus for a in held.assignments()) == 16  # held while its server loads
    assert held.request.tenant == 0  # the lab's own (internal) capacity
    with db.read() as conn:
        assert repo.running_replicas(conn, 1) == (0, 0)  # starting, not serving yet
        [starting] = conn.execute(select(deployment_replicas)).all()
    assert (starting.state, starting.endpoint) == ("starting", None)

    ledger.ready(replica, "http://10.0.0.7:8000")
    with db.read() as conn:
        assert conn.execute(select(deployment_replicas.c.endpoint)).scalar_one() == (
            "http://10.0.0.7:8000"
        )
        assert repo.running_replicas(conn, 1) == (1, 16)
        assert repo.running_replicas_of(conn, [1, 2]) == {1: (1, 16), 2: (0, 0)}
    [listed] = hosting.list_deployments(db, operator.principal)  # one query for every row
    assert (listed.running_replicas, listed.running_gpus) == (1, 16)

    ledger.stopped(replica)
    after = read_placer(db).hold(holder)
    assert after.end == read_placer(db).clock  # released now, not at the year's end
    with db.read() as conn:
        assert repo.running_replicas(conn, 1) == (0, 0)
        [row] = conn.execute(select(deployment_replicas)).all()
    assert row.state == "stopped"
    assert row.stopped_at is not None


def test_a_replica_the_fleet_cannot_hold_is_refused_and_not_recorded(
    db: Database, operator: Actor
) -> None:
    _deployment(db, operator, gpus=8)
    with db.write() as conn:  # more H100s than the fleet has (the API caps it lower)
        conn.execute(update(hosted_models).values(gpus_per_replica=1_000_000))
        deployment = repo.deployment_by_name(conn, "big")
    assert deployment is not None
    with pytest.raises(Unavailable, match="no capacity"):
        Ledger(db, deployment).started()
    with db.read() as conn:
        assert conn.execute(select(deployment_replicas)).all() == []


def test_gpus_off_the_fleet_name_no_placement_holder(db: Database, operator: Actor) -> None:
    """A vLLM server on GPUs the fleet does not manage (no gpu_model) holds no placement:
    its replicas list names none, rather than a holder that does not exist."""
    principal = operator.principal
    model = ModelCreate(name="m", source="url:http://127.0.0.1:9", backend="vllm",
                        gpus_per_replica=2)  # fmt: skip
    hosting.create_model(db, principal, model)
    hosting.create_deployment(db, principal, DeploymentCreate(name="d", model="m"))
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "d")
    assert deployment is not None
    Ledger(db, deployment).started()
    [replica] = hosting.list_replicas(db, principal, "d")
    assert (replica.gpus, replica.holder, replica.nodes) == (2, None, [])
    assert holder_name("d", replica.id) not in set(read_placer(db).holders())


class SlowToRecord(Ledger):
    """The real ledger, taking a moment to write (a busy database) once it has begun."""

    def __init__(self, db: Database, deployment: Deployment) -> None:
        super().__init__(db, deployment)
        self.writing = threading.Event()

    def started(self) -> int:
        self.writing.set()
        time.sleep(0.2)
        return super().started()


def test_a_start_cancelled_while_its_row_is_written_leaves_it_stopped(
    db: Database, operator: Actor
) -> None:
    """Shutdown cancels starts in progress; the thread writing the row and GPU hold runs
    on regardless, so what it wrote must be recorded stopped, not left `starting`."""
    _deployment(db, operator, gpus=8)
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "big")
    assert deployment is not None
    ledger = SlowToRecord(db, deployment)
    pool = VllmPool("url:http://127.0.0.1:9", "big", 8, 4096, ledger)

    async def cancel_while_writing() -> None:
        start = asyncio.create_task(pool.scale_to(1))
        await asyncio.to_thread(ledger.writing.wait, 10)
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start

    asyncio.run(cancel_while_writing())
    with db.read() as conn:
        rows = conn.execute(select(deployment_replicas.c.id, deployment_replicas.c.state)).all()
    assert [state for _, state in rows] == ["stopped"]
    holder = holder_name("big", rows[0].id)
    assert read_placer(db).hold(holder).end == read_placer(db).clock, "its GPUs given back"


def test_two_callers_wanting_a_first_replica_at_once_start_one(
    db: Database, operator: Actor
) -> None:
    """After a scale to zero, the requests that arrive while the first server loads (and the
    scaler, which counts only servers up) all ask for a replica: one is started, not one
    each, every one holding its GPUs."""
    ledger = _deployment(db, operator, gpus=8)
    pool = VllmPool("url:http://127.0.0.1:9", "big", 8, 4096, ledger)

    async def both() -> int:
        await asyncio.gather(pool.scale_to(1), pool.scale_to(1), pool.scale_to(1))
        count = pool.replica_count()
        await pool.close()
        return count

    assert asyncio.run(both()) == 1
    with db.read() as conn:
        assert len(conn.execute(select(deployment_replicas)).all()) == 1


def test_cpu_requests_finding_no_replica_at_once_start_one(db: Database, operator: Actor) -> None:
    """The same for in-process replicas: one thread and row, not one per waiting request."""
    principal = operator.principal
    hosting.create_model(db, principal, ModelCreate(name="cpu", source="dir:/models/tiny"))
    hosting.create_deployment(db, principal, DeploymentCreate(name="cpu", model="cpu"))
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "cpu")
    assert deployment is not None
    # The model itself is not run here: only the replica bookkeeping around its load.
    no_model: Any = object()
    pool = TransformersPool(lambda: no_model, 2048, Ledger(db, deployment))

    async def at_once() -> int:
        await asyncio.gather(*(pool.scale_to(1) for _ in range(3)))
        count = pool.replica_count()
        await pool.close()
        return count

    assert asyncio.run(at_once()) == 1
    with db.read() as conn:
        assert conn.execute(select(deployment_replicas.c.state)).scalars().all() == ["stopped"]
