"""A gateway restarted after a crash stops what its dead predecessor left on this host (ADR 0012).

A gateway killed without its shutdown (SIGKILL, out of memory) leaves its replica rows
`starting`/`running`, their year-long fleet holds and its vLLM server processes. At its
start, a gateway reaps the replicas whose owner ran on this host and is dead (another boot,
no such pid, or the pid began at another tick), and not this process: it stops their vLLM
servers that still run (SIGTERM, SIGKILL after a grace period), then records each replica
stopped and gives its GPUs back through the Ledger, as a normal stop does.

Left alone: replicas of a live owner (another serve process on this host), of other hosts
(whether their owner lives cannot be told from here: that needs an owner lease, not
built), and rows with no owner (written before migration 0010).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gpufleet.hosting import repo
from gpufleet.hosting.owners import Owner, ProcessId, alive, stop_processes, this_owner
from gpufleet.hosting.replicas import Ledger
from gpufleet.services.database import Database

log = logging.getLogger("gpufleet.hosting.recovery")
SERVER_GRACE_S = 30.0  # a vLLM server shutting down frees its GPUs within seconds


@dataclass
class Reaped:
    replicas: list[int] = field(default_factory=list)  # recorded stopped, holds released
    servers: list[int] = field(default_factory=list)  # pids of servers signalled to stop


def _owner_dead(row: Any, me: Owner) -> bool:
    if row.owner_boot != me.boot:
        return True  # the host rebooted since: every process of that boot is gone
    owner = ProcessId(row.owner_pid, row.owner_started)
    return owner != me.process and not alive(owner)


def reap_dead_owners(db: Database, grace_s: float | None = None) -> Reaped:
    """Stop the replicas of this host's dead gateway processes (see the module); a server
    gets `grace_s` (default SERVER_GRACE_S) to exit after SIGTERM. A replica that fails to
    stop is logged and the others still are."""
    reaped = Reaped()
    me = this_owner()
    if me is None:
        log.info("no /proc here: replicas of a crashed gateway cannot be told, none reaped")
        return reaped
    with db.read() as conn:
        rows = [row for row in repo.unstopped_replicas_on(conn, me.host) if _owner_dead(row, me)]
    if not rows:
        return reaped
    # Servers first: a replica's GPUs go back to the fleet only once its server is gone.
    servers = [
        ProcessId(row.server_pid, row.server_started)
        for row in rows
        if row.server_pid is not None and row.owner_boot == me.boot
    ]
    reaped.servers = [
        p.pid for p in stop_processes(servers, SERVER_GRACE_S if grace_s is None else grace_s)
    ]
    deployments: dict[str, Any] = {}
    for row in rows:
        try:
            if row.deployment not in deployments:
                with db.read() as conn:
                    deployments[row.deployment] = repo.deployment_by_name(conn, row.deployment)
            Ledger(db, deployments[row.deployment]).stopped(row.id)
            reaped.replicas.append(row.id)
        except Exception:
            log.exception("stopping replica %d of a dead gateway failed", row.id)
    log.warning(
        "stopped %d replicas left by dead gateway processes on %s (ids %s) and %d of their "
        "model servers (pids %s)",
        len(reaped.replicas), me.host, reaped.replicas, len(reaped.servers), reaped.servers,
    )  # fmt: skip
    return reaped
