"""End to end: `gpufleet ops run` and `gpufleet ops status` against `gpufleet serve`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import EXAMPLES
from tests.e2e.conftest import Cli


def test_the_operator_runs_the_simulated_cluster_from_the_cli(cli: Cli, server: str) -> None:
    admin = cli.run("admin", "init", "--json").json()["api_key"]
    cli.run("fleet", "import", str(EXAMPLES / "small.yaml"), key=admin)
    until = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00")
    placed = cli.run("ops", "place-leases", "--json", key=admin).json()
    assert placed["placed"] == {"lease-1": 64}  # the scenario's signed lease, on 64 nodes
    assert "Placed 0 recorded lease(s)" in cli.run("ops", "place-leases", key=admin).out

    done = cli.run("ops", "run", "--until", until, "--seed", "3", "--failures-per-gpu-hour",
                   "0.0002", "--json", key=admin).json()  # fmt: skip

    assert done["run_status"] == "idle"
    assert done["clock"] == until + "Z"
    assert done["totals"]["failures"] > 0
    assert done["totals"]["experiments_submitted"] > 100  # the lab's Philly jobs
    assert done["experiment_model"] == "H100"
    assert "Philly" in done["experiment_trace"]  # which trace: the shared table or the excerpt
    status = cli.run("ops", "status", "--json", key=admin).json()
    assert status["clock"] == done["clock"]
    text = cli.run("ops", "status", key=admin).out
    assert "utilisation" in text
    assert "node failures" in text
    assert "Experiments replayed from" in text

    again = cli.run("ops", "run", "--until", "2020-01-01", key=admin, check=2)
    assert "only moves forward" in again.err
    cli.run("tenants", "create", "newco", key=admin)
    tenant = cli.run("keys", "create", "newco", "--json", key=admin).json()["api_key"]
    refused = cli.run("ops", "status", key=tenant, check=3)
    assert "operator" in refused.err
    bad = cli.run("ops", "run", "--until", "next week", key=admin, check=2)
    assert "--until" in bad.err
