"""The privacy canary: a unique string sent in prompts (chat, completions, streamed, refused)
appears nowhere afterwards — not in the database, not in any log line, not in any file
written under the temporary directories or gpufleet's home during the test."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gpufleet.adapters.db.tables import metadata
from gpufleet.api.app import create_app
from gpufleet.config import home
from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.runtime import HostingRuntime, flush_meters
from gpufleet.services.database import Database
from tests.conftest import Actor, LiveServer, make_operator
from tests.hosting_support import deploy, new_tenant, serve_in_thread, tiny_model_dir

CANARY = f"CANARY-{uuid.uuid4().hex}"


@pytest.fixture
def key(live_server: LiveServer, operator: Actor) -> Iterator[str]:
    fake = FakeUpstream(words=[CANARY, " echoed"], keep_bodies=False)
    with serve_in_thread(fake) as upstream, live_server.client(operator) as op:
        deploy(op, "tiny", f"dir:{tiny_model_dir()}")
        deploy(op, "remote", f"url:{upstream}", backend="vllm")
        yield new_tenant(operator, op, "acme-ai")


def calls(url: str, key: str) -> list[httpx.Response]:
    said = [{"role": "system", "content": CANARY}, {"role": "user", "content": f"{CANARY}?"}]
    bodies = [
        ("chat/completions", {"model": "tiny", "messages": said, "max_tokens": 8}),
        (
            "chat/completions",
            {
                "model": "tiny",
                "messages": said,
                "max_tokens": 8,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ),
        ("completions", {"model": "tiny", "prompt": CANARY, "max_tokens": 4, "stop": [CANARY]}),
        ("chat/completions", {"model": "remote", "messages": said}),  # the answer has it too
        ("chat/completions", {"model": "remote", "messages": said, "stream": True}),
        # Refused: bad role, bad field, too long for the context, unknown model.
        ("chat/completions", {"model": "tiny", "messages": [{"role": CANARY, "content": CANARY}]}),
        ("chat/completions", {"model": "tiny", "messages": said, "temperature": CANARY}),
        ("completions", {"model": "tiny", "prompt": CANARY * 400}),
        ("chat/completions", {"model": CANARY, "messages": said}),
    ]
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        return [client.post(f"/v1/{path}", json=body) for path, body in bodies]


def written_since(roots: list[Path], since: float) -> Iterator[Path]:
    for root in roots:
        for directory, _, files in os.walk(root, onerror=lambda _: None):
            for name in files:
                path = Path(directory, name)
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if stat.st_mtime >= since and stat.st_size < 50_000_000 and path.is_file():
                    yield path


def test_no_prompt_or_answer_text_is_kept_anywhere(
    live_server: LiveServer,
    key: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    started = time.time() - 1
    caplog.set_level(logging.DEBUG)
    responses = calls(live_server.url, key)
    assert [r.status_code for r in responses] == [200] * 5 + [400] * 3 + [404]
    assert CANARY in responses[4].text  # the canary did travel: the search below can fail
    for refused in responses[5:7]:
        assert CANARY not in refused.text, "errors do not echo what was sent"
    flush_meters()

    with live_server.db.read() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            assert CANARY not in repr(rows), f"table {table.name} holds the canary"
    database = live_server.db.engine.url.database
    if live_server.db.engine.dialect.name == "sqlite" and database:
        for suffix in ("", "-wal", "-shm"):
            path = Path(database + suffix)
            if path.exists():
                assert CANARY.encode() not in path.read_bytes(), f"{path} holds the canary"

    logged = "\n".join(r.getMessage() + repr(r.args) + str(r.exc_text) for r in caplog.records)
    out, err = capfd.readouterr()
    assert CANARY not in logged + out + err

    roots = [Path(tempfile.gettempdir()), home()]
    leaked = [p for p in written_since(roots, started) if _holds(p)]
    assert leaked == [], f"files written during the test hold the canary: {leaked}"


def _holds(path: Path) -> bool:
    try:
        return CANARY.encode() in path.read_bytes()
    except OSError:
        return False


class _Leaky:
    """A backend whose failures quote the prompt, as a careless library's might."""

    async def generate(self, request: Any, on_usage: Any) -> Any:
        raise RuntimeError(f"cannot handle {request.messages}")

    async def complete(self, request: Any, on_usage: Any) -> Any:
        raise RuntimeError(f"cannot handle {request.messages}")

    def queue_depth(self) -> int:
        return 0

    def replica_count(self) -> int:
        return 1

    async def scale_to(self, replicas: int) -> None:
        return None

    async def close(self) -> None:
        return None


def test_unexpected_errors_are_logged_without_what_was_sent(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    operator = make_operator(sqlite_db)
    app = create_app(sqlite_db)
    app.state.hosting = HostingRuntime(sqlite_db, backend_factory=lambda d, ledger: _Leaky())  # type: ignore[arg-type,return-value]
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=operator.headers) as op:
        deploy(op, "tiny", f"dir:{tiny_model_dir()}")
        key = new_tenant(operator, op, "acme-ai")
        said = {"model": "tiny", "messages": [{"role": "user", "content": CANARY}]}
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
            whole = client.post("/v1/chat/completions", json=said)
            streamed = client.post("/v1/chat/completions", json={**said, "stream": True})
    assert whole.status_code == 500
    assert whole.json()["error"]["type"] == "server_error"
    assert streamed.status_code == 500
    assert "RuntimeError" in caplog.text  # the operator learns what failed, and where ...
    logged = caplog.text + "".join(capfd.readouterr())
    assert CANARY not in logged  # ... but not what was sent
    assert CANARY not in whole.text + streamed.text
