"""The operator accepts requests and applies a plan with the CLI; leases show their nodes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import EXAMPLES
from tests.e2e.conftest import GPUFLEET, Cli


def _request(tmp_path: Path, name: str, gpus: int, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"gpu_model: H100\ngpus: {gpus}\nstart: 2027-02-01\nend: 2027-03-01\n"
                    f"price_per_gpu_hour: 2.40\n{extra}")  # fmt: skip
    return path


def test_accept_show_and_apply_over_the_cli(cli: Cli, server: str, tmp_path: Path) -> None:
    admin = cli.run("admin", "init", "--json").json()["api_key"]
    cli.run("fleet", "import", str(EXAMPLES / "small.yaml"), key=admin)
    cli.run("tenants", "create", "newco", key=admin)
    tenant = cli.run("keys", "create", "newco", "--json", key=admin).json()["api_key"]
    small = cli.run("requests", "submit", str(_request(tmp_path, "small", 64)), "--json",
                    key=tenant).json()["id"]  # fmt: skip
    big = cli.run("requests", "submit", str(_request(tmp_path, "big", 24, "contiguous: true\n")),
                  "--json", key=tenant).json()["id"]  # fmt: skip

    done = cli.run("requests", "accept", small, "--json", key=admin).json()
    assert done["nodes"] == 8
    assert len(done["lease"]["assignments"]) == 8
    shown = cli.run("requests", "accept", big, key=admin).out
    assert "accepted" in shown
    assert "Assignments" in shown

    again = cli.run("requests", "accept", small, key=admin, check=5)
    assert "not pending" in again.err
    assert "Traceback" not in again.err
    refused = cli.run("requests", "accept", small, "--json", key=tenant, check=3)
    assert refused.json()["error"]["code"] == "forbidden"

    lease_id = done["lease"]["id"]
    mine = cli.run("leases", "show", lease_id, "--json", key=tenant).json()
    assert mine["assignments"] == done["lease"]["assignments"]
    table = cli.run("leases", "show", lease_id, key=tenant).out
    assert "scheduled" in table
    assert all(a["node"] in table for a in mine["assignments"])

    plan = cli.run("plans", "submit", "--wait", "--reject", "rfq-3", "--json", key=admin).json()
    applied = cli.run("plans", "apply", plan["id"], "--json", key=admin).json()
    accepted = [d["id"] for d in plan["plan"]["decisions"] if d["accepted"]]
    assert [a["request_id"] for a in applied["accepted"]] == accepted
    big_lease = max(applied["accepted"], key=lambda a: a["nodes"])
    summary = cli.run("leases", "show", big_lease["lease_id"], key=admin).out
    assert "node-intervals in" in summary  # a large lease is shown per pod

    follow = subprocess.Popen([*GPUFLEET, "events", "--follow", "--kind", "lease.scheduled",
                               "--json"],
                              env={**os.environ, **cli.env, "GPUFLEET_API_KEY": tenant},
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert follow.stdout is not None
        subjects = [json.loads(follow.stdout.readline())["subject"] for _ in range(2)]
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    assert subjects[0] == lease_id
    assert len(set(subjects)) == 2
