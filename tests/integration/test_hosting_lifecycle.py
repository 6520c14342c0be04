"""Replica lifecycle (ADR 0012): min replicas start when a deployment is created and when a
server starts, not on the first request; a start without capacity is retried and does not
stop the server; a deployment with min 0 starts nothing until used; the operator sees where
replicas run; replicas stop and give their GPUs back when the server shuts down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, update

from gpufleet.adapters.db.tables_hosting import deployment_replicas, hosted_models
from gpufleet.api.app import create_app
from gpufleet.domain.errors import Unavailable
from gpufleet.hosting import repo
from gpufleet.hosting import runtime as runtime_module
from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.replicas import Ledger, holder_name
from gpufleet.hosting.runtime import HostingRuntime, make_backend
from gpufleet.hosting.schemas import DeploymentCreate, ModelCreate
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import fleet, hosting
from gpufleet.services.database import Database
from gpufleet.services.placement import read_placer
from tests.conftest import EXAMPLES, Actor, LiveServer, make_operator, make_tenant
from tests.e2e.conftest import Cli
from tests.hosting_support import serve_in_thread, tiny_model_dir
from tests.integration.support import expect, import_small

T = TypeVar("T")
DEADLINE_S = 20.0


def eventually(probe: Callable[[], T | None], what: str) -> T:
    """Poll `probe` until it returns something (not None/empty), within DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {DEADLINE_S} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(words=[" ok"])
    with serve_in_thread(fake) as url:
        yield fake, url


def running_rows(db: Database, deployment: str) -> list[Any]:
    from gpufleet.adapters.db.tables_hosting import deployments

    with db.read() as conn:
        query = (
            select(deployment_replicas)
            .join(deployments, deployments.c.id == deployment_replicas.c.deployment_id)
            .where(deployments.c.name == deployment, deployment_replicas.c.state == "running")
        )
        return list(conn.execute(query))


def held_gpus(db: Database, holder: str) -> int:
    placer = read_placer(db)
    if holder not in set(placer.holders()):
        return 0
    hold = placer.hold(holder)
    if hold.end <= placer.clock:
        return 0  # released
    return sum(a.gpus for a in hold.assignments())


def gpu_model_body(name: str, url: str, gpus: int = 8) -> dict[str, Any]:
    return {"name": name, "source": f"url:{url}", "backend": "vllm", "gpu_model": "H100",
            "gpus_per_replica": gpus}  # fmt: skip


def test_min_replicas_start_when_the_deployment_is_created_not_on_the_first_request(
    live_server: LiveServer,
    operator: Actor,
    upstream: tuple[FakeUpstream, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = upstream
    # The scaler's own look comes every CACHE_S: pushed past the deadline, only the API's
    # wake() can start these replicas in time.
    monkeypatch.setattr(runtime_module, "CACHE_S", 10 * DEADLINE_S)
    with live_server.client(operator) as op:
        import_small(op)
        expect(op.post("/v1/admin/models", json=gpu_model_body("big", url)), 201)
        # Created first, so by the time the second one's replica runs, the first would have
        # started too if a min-0 deployment started anything before it is used.
        body = {"model": "big", "max_replicas": 2}
        expect(op.post("/v1/admin/deployments", json={**body, "name": "lazy"}), 201)
        expect(op.post("/v1/admin/deployments", json={**body, "name": "eager",
                                                       "min_replicas": 1}), 201)  # fmt: skip

        [row] = eventually(lambda: running_rows(live_server.db, "eager"), "eager's replica")
        holder = holder_name("eager", row.id)
        assert held_gpus(live_server.db, holder) == 8
        assert fake.bodies == [], "no request was sent to start it"
        assert running_rows(live_server.db, "lazy") == []

        # The operator sees where it runs: the nodes and GPUs of its placement.
        [shown] = expect(op.get("/v1/admin/deployments/eager/replicas"), 200)
        assert (shown["id"], shown["state"], shown["gpus"]) == (row.id, "running", 8)
        assert shown["endpoint"] == url  # a fixed upstream answers where its source says
        assert shown["holder"] == holder
        assert shown["stopped_at"] is None
        assert sum(n["gpus"] for n in shown["nodes"]) == 8
        placed = read_placer(live_server.db).hold(holder).assignments()
        assert len(shown["nodes"]) == len(placed)
        assert all(n["node"] for n in shown["nodes"])
        assert expect(op.get("/v1/admin/deployments/lazy/replicas"), 200) == []
        assert expect(op.get("/v1/deployments/eager"), 200)["running_replicas"] == 1

        # Raising lazy's min starts it too, still without a request.
        bounds = {"min_replicas": 1, "max_replicas": 2}
        expect(op.post("/v1/admin/deployments/lazy/replicas", json=bounds), 200)
        eventually(lambda: running_rows(live_server.db, "lazy"), "lazy's replica after min 1")
        assert fake.bodies == []

        # The same through the CLI.
        cli = Cli({"GPUFLEET_URL": live_server.url})
        listed = cli.run("deployments", "replicas", "eager", "--json", key=operator.token)
        assert [(r["id"], r["nodes"]) for r in listed.json()] == [(row.id, shown["nodes"])]
        table = cli.run("deployments", "replicas", "eager", key=operator.token).out
        assert "running" in table
        assert shown["nodes"][0]["node"] in table

        missing = op.get("/v1/admin/deployments/nope/replicas")
        assert missing.status_code == 404
        bad = op.get("/v1/admin/deployments/eager/replicas", params={"state": "gone"})
        assert bad.status_code == 422


def test_a_tenant_sees_no_replicas_even_of_its_own_deployment(
    live_server: LiveServer, operator: Actor, upstream: tuple[FakeUpstream, str]
) -> None:
    tenant = make_tenant(live_server.db, operator, "acme-ai")
    with live_server.client(operator) as op, live_server.client(tenant) as own:
        expect(op.post("/v1/admin/models", json={"name": "m", "source": f"url:{upstream[1]}",
                                                 "backend": "vllm"}), 201)  # fmt: skip
        deployment = {"name": "mine", "model": "m", "kind": "provisioned", "tenant": "acme-ai"}
        expect(op.post("/v1/admin/deployments", json=deployment), 201)
        expect(own.get("/v1/deployments/mine"), 200)  # it may call it ...
        hidden = own.get("/v1/admin/deployments/mine/replicas")  # ... not see the fleet
        absent = own.get("/v1/admin/deployments/nope/replicas")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["error"]["message"] == absent.json()["error"]["message"].replace(
            "nope", "mine"
        )


def _big_deployment(db: Database, url: str, gpus: int = 8) -> None:
    operator = make_operator(db).principal
    fleet.import_scenario(db, operator, load_scenario_file(EXAMPLES / "small.yaml"))
    model = ModelCreate.model_validate(gpu_model_body("big", url, gpus))
    hosting.create_model(db, operator, model)
    hosting.create_deployment(
        db, operator, DeploymentCreate(name="big", model="big", min_replicas=2, max_replicas=3)
    )


def test_a_starting_server_brings_up_min_replicas_and_stops_them_at_shutdown(
    db: Database, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, url = upstream
    _big_deployment(db, url, gpus=8)
    # A fixed upstream (url:) counts as one replica, whatever min says.
    with serve_in_thread(create_app(db)) as server:
        [row] = eventually(lambda: running_rows(db, "big"), "big's replica at startup")
        holder = holder_name("big", row.id)
        assert held_gpus(db, holder) == 8
        assert httpx.get(f"{server}/healthz").status_code == 200
    assert fake.bodies == []
    assert running_rows(db, "big") == [], "shutdown stops the replicas"
    assert held_gpus(db, holder) == 0, "and gives their GPUs back"


def test_a_start_without_capacity_is_logged_retried_and_does_not_stop_startup(
    sqlite_db: Database,
    upstream: tuple[FakeUpstream, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _big_deployment(sqlite_db, upstream[1])
    with sqlite_db.write() as conn:  # more H100s than the fleet has (the API caps it lower)
        conn.execute(update(hosted_models).values(gpus_per_replica=1_000_000))
    monkeypatch.setattr(runtime_module, "CACHE_S", 0.3)  # the scaler looks again sooner
    caplog.set_level(logging.WARNING, logger="gpufleet.hosting")
    with serve_in_thread(create_app(sqlite_db)) as server:
        assert httpx.get(f"{server}/healthz").status_code == 200
        eventually(
            lambda: [r for r in caplog.records if "did not start" in r.getMessage()],
            "the refused start logged",
        )
        eventually(
            lambda: len([r for r in caplog.records if "did not start" in r.getMessage()]) >= 2,
            "a second try",
        )
        assert running_rows(sqlite_db, "big") == []
        with sqlite_db.write() as conn:  # capacity the fleet has: the next try succeeds
            conn.execute(update(hosted_models).values(gpus_per_replica=8))
        eventually(lambda: running_rows(sqlite_db, "big"), "the replica on a later try")
    assert "no capacity" in caplog.text


STAND_IN = """# vLLM's OpenAI server for tests: the same command line, a fake model behind it.
import argparse
import os
import time

import uvicorn

from gpufleet.hosting.fake_upstream import FakeUpstream

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--served-model-name", required=True)
args, _ = parser.parse_known_args()
if os.environ.get("STAND_IN_PIDS"):  # where a test finds every server it must end
    open(os.path.join(os.environ["STAND_IN_PIDS"], str(os.getpid())), "w").close()
if os.environ.get("STAND_IN_FAIL"):  # a model that cannot load: the server exits
    raise SystemExit(1)
if os.environ.get("STAND_IN_ONE_FAST"):  # the first server loads at once, the others slowly
    try:
        os.close(os.open(os.environ["STAND_IN_ONE_FAST"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(60)
uvicorn.run(FakeUpstream(words=[" from", " vllm"]), host="127.0.0.1", port=args.port,
            log_level="warning")
"""


@pytest.fixture
def vllm_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `vllm` package whose `python -m vllm.entrypoints.openai.api_server` serves a fake
    model: replicas are real server processes, started and stopped as vLLM's would be."""
    package = tmp_path / "stand-in" / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    for level in (package, package.parent, package.parent.parent):
        (level / "__init__.py").write_text("")
    (package / "api_server.py").write_text(STAND_IN)
    root = str(tmp_path / "stand-in")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, *sys.path]))


def test_min_vllm_server_processes_start_at_creation_serve_and_stop_at_shutdown(
    sqlite_db: Database, vllm_stand_in: None
) -> None:
    operator = make_operator(sqlite_db)
    tenant = make_tenant(sqlite_db, operator, "acme-ai")
    fleet.import_scenario(
        sqlite_db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml")
    )
    app = create_app(sqlite_db)
    with serve_in_thread(app) as server, httpx.Client(base_url=server, timeout=60) as client:
        op = {"Authorization": f"Bearer {operator.token}"}
        model = {"name": "big", "source": "dir:/models/big", "backend": "vllm",
                 "gpu_model": "H100", "gpus_per_replica": 8}  # fmt: skip
        expect(client.post("/v1/admin/models", json=model, headers=op), 201)
        deployment = {"name": "big", "model": "big", "kind": "provisioned", "tenant": "acme-ai",
                      "min_replicas": 2, "max_replicas": 2}  # fmt: skip
        expect(client.post("/v1/admin/deployments", json=deployment, headers=op), 201)

        def both_up() -> list[Any]:
            found = expect(client.get("/v1/admin/deployments/big/replicas", headers=op), 200)
            return found if len(found) == 2 else []

        replicas = eventually(both_up, "two vLLM server processes up")
        assert [sum(n["gpus"] for n in r["nodes"]) for r in replicas] == [8, 8]
        eventually(lambda: app.state.hosting._running.get("big"), "the pool is up")
        replicas = both_up()
        assert {r["state"] for r in replicas} == {"running"}
        pool = app.state.hosting._running["big"].backend
        processes = [r.process for r in pool._replicas]
        assert {r["endpoint"] for r in replicas} == {r.url for r in pool._replicas}
        assert all(p is not None and p.poll() is None for p in processes)

        key = expect(client.post("/v1/tenants/acme-ai/inference-keys", json={},
                                 headers=op), 201)["api_key"]  # fmt: skip
        chat = {"model": "big", "messages": [{"role": "user", "content": "hi"}]}
        answer = client.post(
            "/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {key}"}
        )
        assert expect(answer, 200)["choices"][0]["message"]["content"] == " from vllm"
        assert len(running_rows(sqlite_db, "big")) == 2, "the request started no other replica"
        del tenant
    assert all(p.poll() is not None for p in processes if p is not None), "servers stopped"
    assert running_rows(sqlite_db, "big") == []
    holders = [holder_name("big", r["id"]) for r in replicas]
    assert [held_gpus(sqlite_db, h) for h in holders] == [0, 0]


def test_cpu_replicas_start_with_the_server_and_are_recorded_stopped_at_shutdown(
    sqlite_db: Database,
) -> None:
    operator = make_operator(sqlite_db).principal
    model = ModelCreate(name="tiny", source=f"dir:{tiny_model_dir()}")
    hosting.create_model(sqlite_db, operator, model)
    bounds = DeploymentCreate(name="tiny", model="tiny", min_replicas=2, max_replicas=2)
    hosting.create_deployment(sqlite_db, operator, bounds)
    app = create_app(sqlite_db)
    with serve_in_thread(app):
        rows = eventually(
            lambda: r if len(r := running_rows(sqlite_db, "tiny")) == 2 else [], "two threads"
        )
        assert [(r.gpus, r.endpoint) for r in rows] == [(0, None), (0, None)]  # in-process
        pool = eventually(lambda: app.state.hosting._running.get("tiny"), "the pool").backend
        assert pool._model is not None, "running means loaded: the first caller does not wait"
    assert running_rows(sqlite_db, "tiny") == []
    with sqlite_db.read() as conn:
        states = conn.execute(select(deployment_replicas.c.state)).scalars().all()
    assert states == ["stopped", "stopped"]


def test_a_model_that_cannot_load_is_unavailable_and_leaves_no_replica_running(
    sqlite_db: Database, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    operator = make_operator(sqlite_db).principal
    hosting.create_model(sqlite_db, operator, ModelCreate(name="broken", source=f"dir:{broken}"))
    hosting.create_deployment(sqlite_db, operator, DeploymentCreate(name="b", model="broken"))
    runtime = HostingRuntime(sqlite_db)

    async def first_request() -> None:
        with pytest.raises(Unavailable, match="the model could not start"):
            await runtime.backend_for(runtime.deployment_for("b", None))
        await runtime.close()

    asyncio.run(first_request())
    with sqlite_db.read() as conn:
        states = conn.execute(select(deployment_replicas.c.state)).scalars().all()
    assert states == ["stopped"]


def _big_vllm_pool(db: Database) -> Any:
    operator = make_operator(db).principal
    fleet.import_scenario(db, operator, load_scenario_file(EXAMPLES / "small.yaml"))
    model = {"name": "big", "source": "dir:/models/big", "backend": "vllm", "gpu_model": "H100",
             "gpus_per_replica": 8}  # fmt: skip
    hosting.create_model(db, operator, ModelCreate.model_validate(model))
    hosting.create_deployment(db, operator, DeploymentCreate(name="big", model="big"))
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, "big")
    assert deployment is not None
    return make_backend(deployment, Ledger(db, deployment))


def test_a_vllm_server_that_exits_while_loading_is_unavailable_and_gives_its_gpus_back(
    sqlite_db: Database, vllm_stand_in: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_FAIL", "1")
    pool = _big_vllm_pool(sqlite_db)
    with pytest.raises(Unavailable, match="did not become healthy"):
        asyncio.run(pool.scale_to(1))
    with sqlite_db.read() as conn:
        [row] = conn.execute(select(deployment_replicas.c.id, deployment_replicas.c.state))
    assert row.state == "stopped"
    assert held_gpus(sqlite_db, holder_name("big", row.id)) == 0


def test_a_shutdown_while_vllm_servers_load_stops_the_ones_already_up_too(
    sqlite_db: Database, vllm_stand_in: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("STAND_IN_PIDS", str(pids))
    monkeypatch.setenv("STAND_IN_ONE_FAST", str(tmp_path / "first"))
    pool = _big_vllm_pool(sqlite_db)

    async def shut_down_while_one_loads() -> None:
        start = asyncio.create_task(pool.scale_to(2))
        deadline = time.monotonic() + DEADLINE_S
        while not await asyncio.to_thread(running_rows, sqlite_db, "big"):
            assert time.monotonic() < deadline, "the fast server did not come up"
            await asyncio.sleep(0.05)
        start.cancel()  # what the runtime's close does to a start in progress
        with pytest.raises(asyncio.CancelledError):
            await start
        await pool.close()

    try:
        asyncio.run(shut_down_while_one_loads())
        with sqlite_db.read() as conn:
            rows = conn.execute(select(deployment_replicas.c.id, deployment_replicas.c.state))
            replicas = {row.id: row.state for row in rows}
        assert list(replicas.values()) == ["stopped", "stopped"], "the one up is stopped too"
        assert [held_gpus(sqlite_db, holder_name("big", i)) for i in replicas] == [0, 0]
        assert [p for p in pids.iterdir() if _alive(int(p.name))] == [], "no server left"
    finally:
        for pid in pids.iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.name), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_scale_down_cancelled_at_shutdown_still_records_the_server_stopped(
    sqlite_db: Database, vllm_stand_in: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("STAND_IN_PIDS", str(pids))
    pool = _big_vllm_pool(sqlite_db)

    async def cancel_while_stopping() -> None:
        await pool.scale_to(2)
        down = asyncio.create_task(pool.scale_to(1))  # the scaler, as the server shuts down
        await asyncio.sleep(0)  # it has terminated one server and waits for it to exit
        down.cancel()
        with pytest.raises(asyncio.CancelledError):
            await down
        await pool.close()

    try:
        asyncio.run(cancel_while_stopping())
        with sqlite_db.read() as conn:
            rows = conn.execute(select(deployment_replicas.c.id, deployment_replicas.c.state))
            replicas = {row.id: row.state for row in rows}
        assert list(replicas.values()) == ["stopped", "stopped"]
        assert [held_gpus(sqlite_db, holder_name("big", i)) for i in replicas] == [0, 0]
    finally:
        for pid in pids.iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.name), signal.SIGKILL)
