"""End to end: the installed `gpufleet` command, as a user runs it, against `gpufleet serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _free_port

GPUFLEET = [sys.executable, "-m", "gpufleet.cli.main"]


@dataclass
class Cli:
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, key: str | None = None, check: int | None = 0, timeout: float = 120
    ) -> Result:
        env = {**os.environ, **self.env, "COLUMNS": "200"}
        if key is not None:
            env["GPUFLEET_API_KEY"] = key
        done = subprocess.run([*GPUFLEET, *args], capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)  # fmt: skip
        result = Result(done.returncode, done.stdout, done.stderr)
        if check is not None:
            assert done.returncode == check, f"exit {done.returncode}: {done.stderr}{done.stdout}"
        return result


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    return Cli({"GPUFLEET_DATABASE_URL": db_url, "GPUFLEET_HOME": str(tmp_path / "home")})


@pytest.fixture
def server(cli: Cli) -> Iterator[str]:
    """`gpufleet serve` in its own process on a free port."""
    port = _free_port()
    env = {**os.environ, **cli.env}
    process = subprocess.Popen([*GPUFLEET, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode() if process.stdout else ""
            process.kill()
            raise RuntimeError(f"gpufleet serve did not start: {output}")
        time.sleep(0.1)
    cli.env["GPUFLEET_URL"] = url
    yield url
    process.terminate()
    process.wait(timeout=10)
