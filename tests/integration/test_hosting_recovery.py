"""A gateway restarted after a crash stops what its dead predecessor left on this host
(ADR 0012, hosting/recovery.py): the replica rows, their fleet holds and the vLLM servers.
Replicas of a live owner and of another host are left alone.

The "dead predecessor" is a real process that has exited; its rows and holds are written by
the real Ledger; a "vLLM server" is a real process that must be signalled to go away."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import upgrade
from gpufleet.adapters.db.tables_hosting import deployment_replicas
from gpufleet.api.app import create_app
from gpufleet.hosting import recovery, repo
from gpufleet.hosting import replicas as replicas_module
from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.owners import (
    Owner,
    ProcessId,
    alive,
    boot_id,
    identify,
    stop_processes,
    this_owner,
)
from gpufleet.hosting.replicas import Ledger, holder_name
from gpufleet.hosting.schemas import DeploymentCreate, ModelCreate
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import fleet, hosting
from gpufleet.services.database import Database
from gpufleet.services.placement import read_placer
from tests.conftest import EXAMPLES, make_operator
from tests.hosting_support import free_port, serve_in_thread
from tests.integration.test_hosting_lifecycle import (  # noqa: F401 (a fixture)
    eventually,
    held_gpus,
    vllm_stand_in,
)

pytestmark = pytest.mark.skipif(this_owner() is None, reason="needs Linux /proc")
GPUS = 8


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve_in_thread(FakeUpstream(words=[" ok"])) as url:
        yield url


def _waiting_process() -> subprocess.Popen[bytes]:
    """A real process that runs until its stdin closes (no sleep to guess its lifetime)."""
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)  # fmt: skip


@pytest.fixture
def dead_process() -> ProcessId:
    """The identity of a process of this host that ran and has exited (and was collected)."""
    process = _waiting_process()
    found = identify(process.pid)
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)
    assert found is not None
    assert not alive(found)
    return found


@pytest.fixture
def live_process() -> Iterator[ProcessId]:
    process = _waiting_process()
    found = identify(process.pid)
    assert found is not None
    yield found
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


def _here(process: ProcessId, host: str | None = None, boot: str | None = None) -> Owner:
    return Owner(host or socket.gethostname(), boot or (boot_id() or ""), process)


def _deploy(db: Database, url: str, min_replicas: int) -> Ledger:
    operator = make_operator(db).principal
    fleet.import_scenario(db, operator, load_scenario_file(EXAMPLES / "small.yaml"))
    model = {"name": "big", "source": f"url:{url}", "backend": "vllm", "gpu_model": "H100",
             "gpus_per_replica": GPUS}  # fmt: skip
    hosting.create_model(db, operator, ModelCreate.model_validate(model))
    bounds = DeploymentCreate(name="big", model="big", min_replicas=min_replicas, max_replicas=3)
    hosting.create_deployment(db, operator, bounds)
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "big")
    assert deployment is not None
    return Ledger(db, deployment)


def _started_by(
    monkeypatch: pytest.MonkeyPatch, ledger: Ledger, owner: Owner, url: str | None
) -> int:
    """A replica started by `owner` through the real Ledger (row and 8-GPU hold); `url`:
    it came up, None: it was still loading when its owner died."""
    with monkeypatch.context() as patch:
        patch.setattr(replicas_module, "this_owner", lambda: owner)
        replica_id = ledger.started()
    if url is not None:
        ledger.ready(replica_id, url)
    return replica_id


def _rows(db: Database) -> dict[int, Any]:
    with db.read() as conn:
        return {row.id: row for row in conn.execute(select(deployment_replicas))}


def _active_holds(db: Database) -> list[str]:
    placer = read_placer(db)
    return [h for h in placer.holders() if h.startswith("hosting:") and held_gpus(db, h) > 0]


@contextlib.contextmanager
def _serving(db: Database, replicas: int = 1) -> Iterator[Any]:
    """A gateway started in this process (its startup reaps, then starts the min replicas);
    yields the row it started (a list, for more than one) once they run. It shuts down on
    leaving."""
    with serve_in_thread(create_app(db)):

        def mine() -> list[Any]:
            rows = _rows(db).values()
            found = [r for r in rows if r.state == "running" and r.owner_pid == os.getpid()]
            return found if len(found) == replicas else []

        found = eventually(mine, "the restarted gateway's own replicas")
        yield found[0] if replicas == 1 else found


def test_a_restart_stops_a_dead_gateways_replicas_before_starting_its_own(
    db: Database,
    upstream: str,
    dead_process: ProcessId,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = _deploy(db, upstream, min_replicas=1)
    dead = _here(dead_process)
    running = _started_by(monkeypatch, ledger, dead, upstream)
    loading = _started_by(monkeypatch, ledger, dead, None)
    # The same pid and tick as this very process, but of a boot before the host's reboot.
    me = this_owner()
    assert me is not None
    rebooted = _started_by(monkeypatch, ledger, _here(me.process, boot="old"), None)
    old = [running, loading, rebooted]
    assert len(_active_holds(db)) == 3

    with caplog.at_level(logging.WARNING, logger="gpufleet.hosting.recovery"), _serving(db) as mine:
        rows = _rows(db)
        assert [rows[i].state for i in old] == ["stopped"] * 3
        assert all(held_gpus(db, holder_name("big", i)) == 0 for i in old), "GPUs given back"
        # The min replica started once: one running row, one hold (its own).
        assert [r.id for r in rows.values() if r.state != "stopped"] == [mine.id]
        assert _active_holds(db) == [holder_name("big", mine.id)]
        assert held_gpus(db, holder_name("big", mine.id)) == GPUS
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "stopped 3 replicas" in message
    assert str(old) in message
    assert all(r.state == "stopped" for r in _rows(db).values()), "its own stop at shutdown"


def test_replicas_of_a_live_process_or_another_host_are_left_alone(
    db: Database,
    upstream: str,
    dead_process: ProcessId,
    live_process: ProcessId,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = _deploy(db, upstream, min_replicas=1)
    # Another serve process on this host, still running.
    of_live = _started_by(monkeypatch, ledger, _here(live_process), upstream)
    # A gateway on another host: whether it lives cannot be told from here.
    elsewhere = _started_by(monkeypatch, ledger, _here(dead_process, host="gpu-host-2"), upstream)
    with _serving(db) as mine:  # the reaping is over once its own replica starts
        rows = _rows(db)
        assert (rows[of_live].state, rows[elsewhere].state) == ("running", "running")
        assert held_gpus(db, holder_name("big", of_live)) == GPUS
        assert held_gpus(db, holder_name("big", elsewhere)) == GPUS
    assert _rows(db)[mine.id].state == "stopped", "its own replica stopped at shutdown"


def test_a_dead_gateways_vllm_servers_are_terminated_and_killed_if_they_resist(
    db: Database,
    upstream: str,
    dead_process: ProcessId,
    live_process: ProcessId,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = _deploy(db, upstream, min_replicas=0)
    dead = _here(dead_process)
    # Stand-ins for vLLM servers the dead gateway launched: one stops on SIGTERM, one
    # ignores it (and says so once it does) and is killed after the grace period.
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
         "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"
    try:
        servers = {}
        for process in (polite, stubborn):
            replica_id = _started_by(monkeypatch, ledger, dead, None)
            ledger.launched(replica_id, process.pid)
            servers[replica_id] = process
        # A recorded server whose pid now names another process (a later start tick): the
        # pid was reused, so that process must not be signalled.
        reused = _started_by(monkeypatch, ledger, dead, None)
        with db.write() as conn:
            conn.execute(
                deployment_replicas.update()
                .where(deployment_replicas.c.id == reused)
                .values(server_pid=live_process.pid, server_started=live_process.started - 1)
            )

        reaped = recovery.reap_dead_owners(db, grace_s=0.5)

        assert polite.wait(timeout=10) == -signal.SIGTERM
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
        assert sorted(reaped.servers) == sorted([polite.pid, stubborn.pid])
        assert alive(live_process), "a reused pid is not signalled"
        assert sorted(reaped.replicas) == sorted([*servers, reused])
        assert all(r.state == "stopped" for r in _rows(db).values())
        assert _active_holds(db) == []
    finally:
        for process in (polite, stubborn):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def test_a_replica_started_here_records_this_process_as_its_owner(
    db: Database, upstream: str
) -> None:
    ledger = _deploy(db, upstream, min_replicas=0)
    replica_id = ledger.started()
    row = _rows(db)[replica_id]
    me = this_owner()
    assert me is not None
    owner = Owner(row.owner_host, row.owner_boot, ProcessId(row.owner_pid, row.owner_started))
    assert owner == me
    # This process is alive, so nothing of it is reaped (a second begin() after a shutdown).
    assert recovery.reap_dead_owners(db).replicas == []
    assert _rows(db)[replica_id].state == "starting"


def test_a_process_that_exited_but_was_not_collected_is_dead() -> None:
    """A zombie keeps its pid and /proc entry until its parent waits: not alive."""
    process = _waiting_process()
    found = identify(process.pid)
    assert found is not None
    assert alive(found)
    assert process.stdin is not None
    process.stdin.close()
    eventually(lambda: not alive(found) or None, "the exit")
    process.wait(timeout=10)


@pytest.mark.usefixtures("vllm_stand_in")
def test_a_gateway_killed_with_its_vllm_servers_up_is_cleaned_up_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole story with real processes: `gpufleet serve` starts two (stand-in) vLLM
    servers, is SIGKILLed, and the next gateway stops those servers, records their replicas
    stopped, gives back their GPUs and starts two of its own. SQLite only: the other tests
    run the same reaping on both databases, and this one costs a gateway's start."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    upgrade(make_engine(url))
    db = Database(make_engine(url))
    operator = make_operator(db).principal
    fleet.import_scenario(db, operator, load_scenario_file(EXAMPLES / "small.yaml"))
    model = {"name": "big", "source": "dir:/models/big", "backend": "vllm", "gpu_model": "H100",
             "gpus_per_replica": GPUS}  # fmt: skip
    hosting.create_model(db, operator, ModelCreate.model_validate(model))
    bounds = DeploymentCreate(name="big", model="big", min_replicas=2, max_replicas=2)
    hosting.create_deployment(db, operator, bounds)
    monkeypatch.setenv("GPUFLEET_DATABASE_URL", url)
    command = [sys.executable, "-m", "gpufleet.cli.main", "serve", "--no-default-model",
               "--port", str(free_port())]  # fmt: skip
    gateway = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers: list[ProcessId] = []
    try:

        def first_up() -> list[Any]:
            rows = [r for r in _rows(db).values() if r.state == "running"]
            return rows if len(rows) == 2 else []

        first = eventually(first_up, "the first gateway's two vLLM servers")
        assert {r.owner_pid for r in first} == {gateway.pid}
        servers = [ProcessId(r.server_pid, r.server_started) for r in first]
        assert all(s.pid is not None and s.started is not None for s in servers), "recorded"
        gateway.kill()  # no shutdown: rows, holds and servers are left behind
        gateway.wait(timeout=10)
        assert all(alive(s) for s in servers), "its servers outlive it"

        with _serving(db, replicas=2) as mine:
            assert not any(alive(s) for s in servers), "the next gateway stopped them"
            rows = _rows(db)
            assert [rows[r.id].state for r in first] == ["stopped", "stopped"]
            assert sorted(_active_holds(db)) == sorted(holder_name("big", r.id) for r in mine)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(timeout=10)
        stop_processes(servers, grace_s=0)  # a failed test leaves no orphan server behind
        db.engine.dispose()
