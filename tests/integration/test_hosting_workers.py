"""Several gateway worker processes (ADR 0012): `gpufleet serve --workers N` runs N processes,
and refuses vLLM deployments that each of them would start (and hold fleet GPUs for) on its
own; a worker refuses to create or start one later. Transformers replicas are per process by
design; a running upstream (`url:`) off the fleet is shared as it is."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gpufleet.domain.errors import Conflict, Unavailable
from gpufleet.hosting import repo
from gpufleet.hosting.schemas import DeploymentCreate, ModelCreate
from gpufleet.hosting.workers import WORKERS_ENV, refuse_per_process_replicas
from gpufleet.services import hosting
from gpufleet.services.database import Database
from tests.conftest import _free_port, make_operator
from tests.e2e.conftest import GPUFLEET, Cli

MODELS = {
    "cpu": {"source": "dir:/models/tiny"},
    "vllm-here": {"source": "dir:/models/big", "backend": "vllm"},
    "vllm-url": {"source": "url:http://10.0.0.5:8000", "backend": "vllm"},
}


def _catalog(db: Database) -> None:
    operator = make_operator(db).principal
    for name, fields in MODELS.items():
        hosting.create_model(db, operator, ModelCreate.model_validate({"name": name, **fields}))


def test_a_worker_of_several_refuses_vllm_deployments_each_would_duplicate(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalog(sqlite_db)
    operator = make_operator(sqlite_db).principal
    monkeypatch.setenv(WORKERS_ENV, "3")
    with pytest.raises(Conflict, match=r"--workers 3: deployment\(s\) here run vLLM"):
        hosting.create_deployment(
            sqlite_db, operator, DeploymentCreate(name="here", model="vllm-here")
        )
    with sqlite_db.read() as conn:
        assert repo.deployment_by_name(conn, "here") is None, "nothing half-written"
    for name in ("cpu", "vllm-url"):  # per process by design / a server that already runs
        hosting.create_deployment(sqlite_db, operator, DeploymentCreate(name=name, model=name))

    monkeypatch.setenv(WORKERS_ENV, "1")
    hosting.create_deployment(sqlite_db, operator, DeploymentCreate(name="here", model="vllm-here"))
    with sqlite_db.read() as conn:
        here = repo.deployment_by_name(conn, "here")
    assert here is not None
    refuse_per_process_replicas(here)  # one worker: fine
    monkeypatch.setenv(WORKERS_ENV, "2")
    with pytest.raises(Unavailable, match="--workers 1"):
        refuse_per_process_replicas(here)


def test_serve_with_several_workers_refuses_such_deployments_and_runs_otherwise(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _catalog(sqlite_db)
    operator = make_operator(sqlite_db).principal
    hosting.create_deployment(sqlite_db, operator, DeploymentCreate(name="cpu", model="cpu"))
    url = sqlite_db.engine.url.render_as_string(hide_password=False)
    cli = Cli({"GPUFLEET_DATABASE_URL": url, "GPUFLEET_HOME": str(tmp_path / "home")})

    # Two workers over a database without such deployments: both serve.
    port = _free_port()
    env = {**os.environ, **cli.env}
    args = [*GPUFLEET, "serve", "--port", str(port), "--workers", "2", "--no-default-model"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve --workers 2 did not answer"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    hosting.create_deployment(sqlite_db, operator, DeploymentCreate(name="here", model="vllm-here"))
    refused = cli.run("serve", "--workers", "2", "--port", str(_free_port()), check=5)
    assert "deployment(s) here run vLLM replicas" in refused.err
    assert "--workers 1" in refused.err
