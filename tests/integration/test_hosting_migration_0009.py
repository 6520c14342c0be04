"""Migration 0009 goes back down on a database whose replicas are loading: a `starting` row
becomes `running` (what 0008 recorded from a replica's start; its GPUs are held either way)
instead of breaking the restored CHECK constraint."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import select

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import alembic_config
from gpufleet.adapters.db.tables_hosting import deployment_replicas
from gpufleet.bootstrap import open_database
from gpufleet.hosting import repo
from gpufleet.hosting.replicas import Ledger
from gpufleet.hosting.schemas import DeploymentCreate, ModelCreate
from gpufleet.services import hosting
from tests.conftest import make_operator


def test_a_starting_replica_survives_the_downgrade_as_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gpufleet.db'}"
    db = open_database(url)
    operator = make_operator(db).principal
    hosting.create_model(db, operator, ModelCreate(name="m", source="dir:/nowhere"))
    hosting.create_deployment(db, operator, DeploymentCreate(name="d", model="m"))
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "d")
    assert deployment is not None
    ledger = Ledger(db, deployment)
    loading, served = ledger.started(), ledger.started()
    ledger.ready(served, None)
    db.engine.dispose()

    engine = make_engine(url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with engine.connect() as conn:
        rows = conn.execute(select(deployment_replicas.c.id, deployment_replicas.c.state))
        states = {row.id: row.state for row in rows}
    engine.dispose()
    assert states == {loading: "running", served: "running"}
