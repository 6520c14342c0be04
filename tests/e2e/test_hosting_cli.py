"""The hosting CLI as a user runs it against `gpufleet serve`: catalog, deployment, limits,
an inference key, a question, the tokens it used, and errors as exit codes."""

from __future__ import annotations

import time

from gpufleet.hosting.fake_upstream import FakeUpstream
from tests.e2e.conftest import Cli
from tests.hosting_support import serve_in_thread


def test_operator_deploys_and_a_tenant_chats(cli: Cli, server: str) -> None:
    admin = cli.run("admin", "init", "--json").json()["api_key"]
    # On the embedded database (only), serve offered the default model already.
    embedded = cli.env["GPUFLEET_DATABASE_URL"].startswith("sqlite")
    default = ["smollm2-135m-instruct"] if embedded else []
    listed = cli.run("deployments", "list", "--json", key=admin).json()
    assert [d["name"] for d in listed] == default
    with serve_in_thread(FakeUpstream(words=["Paris", "."])) as upstream:
        cli.run(
            "models",
            "add",
            "fast",
            "--source",
            f"url:{upstream}",
            "--backend",
            "vllm",
            "--input-price",
            "0.5",
            "--output-price",
            "1.5",
            key=admin,
        )
        catalog = cli.run("models", "list", "--catalog", "--json", key=admin).json()
        assert [m["name"] for m in catalog] == [*default, "fast"]
        cli.run("deployments", "create", "fast", "--model", "fast", key=admin)
        cli.run("tenants", "create", "newco", key=admin)
        key = cli.run("inference-keys", "create", "newco", "--json", key=admin).json()["api_key"]
        limits = cli.run("limits", "set", "newco", "--rpm", "1", "--json", key=admin).json()
        assert limits["requests_per_minute"] == 1

        if time.time() % 60 > 40:  # the limit counts per calendar minute: stay in one
            time.sleep(61 - time.time() % 60)
        answer = cli.run("chat", "Capital of France?", "--model", "fast", "--json", key=key)
        assert answer.json()["choices"][0]["message"]["content"] == "Paris."
        refused = cli.run("chat", "Again?", "--model", "fast", key=admin, check=3)
        assert "tenant" in refused.err  # operator keys call no model
        limited = cli.run("chat", "Again?", "--model", "fast", key=key, check=6)
        assert "limit" in limited.err
        missing = cli.run("chat", "Hi", "--model", "nope", key=key, check=4)
        assert "does not exist" in missing.err

    used = cli.run("token-usage", "--json", key=admin).json()
    assert [(u["tenant"], u["deployment"], u["requests"]) for u in used] == [("newco", "fast", 1)]
    assert "newco" in cli.run("token-usage", key=admin).out
    cli.run("deployments", "show", "nope", key=admin, check=4)
    bad = cli.run("models", "add", "x", "--source", "ftp:nowhere", key=admin, check=2)
    assert "source" in bad.err
