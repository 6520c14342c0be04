"""Replica records: every replica is a deployment_replicas row (`starting` while its server
loads, `running` once it serves, then `stopped`); a GPU replica is also a placement on the
fleet, held by the internal tenant `hosting` (holder `hosting:<deployment>:<replica id>`)
from the moment it starts, and gives its GPUs back when it stops.

A GPU replica that the fleet cannot hold is refused (Unavailable) before it starts.
"""

from __future__ import annotations

from gpufleet.domain.errors import Unavailable
from gpufleet.hosting import repo
from gpufleet.hosting.catalog import INTERNAL_TENANT, Deployment
from gpufleet.hosting.owners import identify, this_owner
from gpufleet.placement import INTERNAL, HoldKind, Refusal, Request
from gpufleet.services.database import Database
from gpufleet.services.placement import placement_session

HOLD_S = 365 * 24 * 3600  # a replica holds its GPUs until it stops (then released early)


def holder_name(deployment: str, replica_id: int) -> str:
    return f"{INTERNAL_TENANT}:{deployment}:{replica_id}"


class Ledger:
    """deployment_replicas rows for one deployment, and fleet placements for GPU replicas."""

    def __init__(self, db: Database, deployment: Deployment) -> None:
        self._db = db
        self._deployment = deployment
        self._on_fleet = deployment.model.on_fleet

    def started(self) -> int:
        model = self._deployment.model
        owner = this_owner()  # a gateway restarted after a crash stops what it had begun
        if not self._on_fleet:
            with self._db.write() as conn:
                return repo.start_replica(
                    conn, self._deployment.id, model.gpus_per_replica, self._db.clock(), owner
                )
        assert model.gpu_model is not None
        with placement_session(self._db) as session:
            replica_id = repo.start_replica(
                session.conn, self._deployment.id, model.gpus_per_replica, session.now, owner
            )
            holder = holder_name(self._deployment.name, replica_id)
            request = Request(
                holder=holder,
                tenant=INTERNAL,
                kind=HoldKind.TRAINING,
                gpu_model=model.gpu_model,
                gpus=model.gpus_per_replica,
                start=session.clock,
                end=session.clock + HOLD_S,
            )
            result = session.placer.place(request)
            if isinstance(result, Refusal):
                raise Unavailable(
                    f"no capacity for a replica of {self._deployment.name!r}: {result.message}"
                )
            session.save([holder])
            return replica_id

    def launched(self, replica_id: int, server_pid: int) -> None:
        """Its model server process was launched: recorded so that a restart after this
        process died can stop it (nothing recorded if the process is gone already)."""
        server = identify(server_pid)
        if server is not None:
            with self._db.write() as conn:
                repo.replica_launched(conn, replica_id, server)

    def ready(self, replica_id: int, endpoint: str | None) -> None:
        with self._db.write() as conn:
            repo.replica_ready(conn, replica_id, endpoint)

    def stopped(self, replica_id: int) -> None:
        if not self._on_fleet:
            with self._db.write() as conn:
                repo.stop_replica(conn, replica_id, self._db.clock())
            return
        with placement_session(self._db) as session:
            repo.stop_replica(session.conn, replica_id, session.now)
            holder = holder_name(self._deployment.name, replica_id)
            if holder in set(session.placer.holders()):
                session.placer.release(holder, at=session.clock)
                session.save([holder])
