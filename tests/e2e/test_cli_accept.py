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
    applied = cli.run("plans", "apply", plan["id"], "--program-days", "0", "--json",
                      key=admin).json()  # fmt: skip
    accepted = [d["id"] for d in plan["plan"]["decisions"] if d["accepted"]]
    assert [a["request_id"] for a in applied["accepted"]] == accepted
    assert applied["programs"]["holds"] == []  # --program-days 0: no program booked
    assert applied["programs"]["later_periods"] > 0
    _programs_are_booked_and_shown(cli, admin, plan["id"])
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


def _programs_are_booked_and_shown(cli: Cli, admin: str, plan_id: str) -> None:
    """`plans apply --program-days` books the programs' allocations; the text output shows
    wanted / placed / short GPUs per program, model and periods, as --json gives them."""
    days = ("--program-days", "3660")  # the whole horizon, whatever today is
    booked = cli.run("plans", "apply", plan_id, *days, "--json", key=admin).json()["programs"]
    holds = booked["holds"]
    assert {h["program"] for h in holds} == {"model-v2", "chat-api"}
    assert all(h["wanted_gpus"] == h["placed_gpus"] + h["short_gpus"] for h in holds)
    assert booked["later_periods"] == 0

    out = cli.run("plans", "apply", plan_id, *days, key=admin).out  # re-booked, same shape
    assert "0 lease(s) created" in out
    assert "Programs booked" in out
    assert f"{booked['placed_gpus']:,} GPUs placed, {booked['short_gpus']:,} short" in out
    lines = out.splitlines()
    for h in holds:
        first, last = h["periods"][0], h["periods"][-1]
        periods = str(first) if first == last else f"{first}–{last}"
        cells = [h["program"], h["gpu_model"], periods, f"{h['wanted_gpus']:,}",
                 f"{h['placed_gpus']:,}", f"{h['short_gpus']:,}"]  # fmt: skip
        assert any(line.split("│")[1:-1] and [c.strip() for c in line.split("│")[1:-1]] == cells
                   for line in lines), f"no row {cells} in:\n{out}"  # fmt: skip
