"""A user's session with the CLI: set up, import, look, let a tenant ask, revoke."""

from __future__ import annotations

from tests.conftest import EXAMPLES
from tests.e2e.conftest import Cli


def test_operator_and_tenant_session_over_http(cli: Cli, server: str, tmp_path) -> None:
    admin = cli.run("admin", "init", "--json").json()["api_key"]
    again = cli.run("admin", "init", check=5)
    assert "already exists" in again.err
    assert "Traceback" not in again.err

    imported = cli.run("fleet", "import", str(EXAMPLES / "small.yaml"), "--json", key=admin)
    assert imported.json()["nodes"] == 960

    fleet = cli.run("fleet", "show", "--json", key=admin).json()
    assert fleet["installed_gpus"] == 5376
    assert "GPUs per model" in cli.run("fleet", "show", key=admin).out

    nodes = cli.run("fleet", "nodes", "--limit", "5", "--json", key=admin).json()
    assert len(nodes["items"]) == 5
    assert nodes["next_cursor"] == str(nodes["items"][-1]["id"])
    down = cli.run("fleet", "set-state", str(nodes["items"][0]["id"]), "down", "--reason",
                   "psu", "--json", key=admin).json()  # fmt: skip
    assert down["state"] == "down"

    cli.run("tenants", "create", "newco", key=admin)
    tenant_key = cli.run("keys", "create", "newco", "--json", key=admin).json()["api_key"]
    request = tmp_path / "request.yaml"
    request.write_text(
        "gpu_model: H100\ngpus: 64\nstart: 2027-02-01\nend: 2027-03-01\nprice_per_gpu_hour: 2.40\n"
    )
    submitted = cli.run("requests", "submit", str(request), "--json", key=tenant_key).json()
    assert submitted["tenant"] == "newco"
    assert submitted["status"] == "pending"

    mine = cli.run("requests", "list", "--json", key=tenant_key).json()["items"]
    assert [r["id"] for r in mine] == [submitted["id"]]
    everyone = cli.run("requests", "list", "--limit", "1000", "--json", key=admin).json()
    assert len(everyone["items"]) == 8  # the 7 of small.yaml and newco's

    events = cli.run("events", "--json", key=tenant_key).json()["items"]
    assert {e["tenant"] for e in events} == {"newco"}

    forbidden = cli.run("fleet", "show", key=tenant_key, check=3)
    assert "operator" in forbidden.err
    assert "Traceback" not in forbidden.err

    key_id = cli.run("keys", "list", "newco", "--json", key=admin).json()[0]["id"]
    cli.run("keys", "revoke", key_id, key=admin)
    revoked = cli.run("requests", "list", key=tenant_key, check=3)
    assert "revoked" in revoked.err


def test_missing_server_is_a_clear_error(cli: Cli) -> None:
    cli.env["GPUFLEET_URL"] = "http://127.0.0.1:9"
    result = cli.run("fleet", "show", key="gf_key_00_x", check=6)
    assert "cannot reach" in result.err
    assert "Traceback" not in result.err


def test_operator_plans_the_servers_state_and_waits(cli: Cli, server: str) -> None:
    admin = cli.run("admin", "init", "--json").json()["api_key"]
    cli.run("fleet", "import", str(EXAMPLES / "small.yaml"), key=admin)
    job = cli.run("plans", "submit", "--wait", "--gap", "0", "--json", key=admin).json()
    assert job["status"] == "done"
    assert job["plan"]["status"] == "optimal"
    shown = cli.run("plans", "show", job["id"], "--json", key=admin).json()
    assert shown == job["plan"]  # the plan's own JSON, as `gpufleet plan --json` prints it
    listed = cli.run("plans", "list", key=admin).out
    assert job["id"] in listed
    bad = cli.run("plans", "submit", "--accept", "nope", key=admin, check=2)
    assert "force_accept[0]" in bad.err
