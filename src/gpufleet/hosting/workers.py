"""Several gateway worker processes (`gpufleet serve --workers N`) and replicas (ADR 0012).

Each worker process keeps its own replica pools. For the `transformers` backend that is
inherent: a replica is a thread running the model inside the gateway process, so each
worker loads the weights and runs its own replicas (recorded, holding no fleet GPUs). For
`vllm` it would start N sets of model servers, each holding fleet GPUs; until replicas are
shared across processes, a multi-worker gateway refuses such deployments: `serve` at
startup, and each worker before starting a replica of one created later.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gpufleet.domain.errors import Conflict, Unavailable
from gpufleet.hosting.catalog import BackendKind, Deployment

WORKERS_ENV = "GPUFLEET_SERVE_WORKERS"  # set by `gpufleet serve` for its worker processes


def starts_per_process(deployment: Deployment) -> bool:
    """Would each gateway process start (or hold fleet GPUs for) replicas of its own?
    A vLLM server it launches, yes; an upstream at `url:` that is already running, only if
    its replica is placed on the fleet (each process would hold the same GPUs again)."""
    model = deployment.model
    if model.backend is not BackendKind.VLLM:
        return False  # transformers: per process by design (see the module docstring)
    return not model.source.startswith("url:") or model.on_fleet


def serve_workers() -> int:
    """How many worker processes this gateway runs (1 unless `serve --workers` said)."""
    try:
        return max(1, int(os.environ.get(WORKERS_ENV, "1")))
    except ValueError:
        return 1


def refuse_per_process_replicas(deployment: Deployment) -> None:
    """In one of several workers: refuse to start replicas every worker would duplicate."""
    workers = serve_workers()
    if workers > 1 and starts_per_process(deployment):
        raise Unavailable(
            f"deployment {deployment.name!r} runs vLLM replicas, and this gateway runs "
            f"{workers} worker processes, each of which would start its own set; "
            "serve it with --workers 1 (ADR 0012)"
        )


def check_workers(deployments: Iterable[Deployment], workers: int) -> None:
    """`serve --workers N`: refuse, naming them, when some deployment would get N sets."""
    if workers <= 1:
        return
    names = sorted(d.name for d in deployments if starts_per_process(d))
    if names:
        raise Conflict(
            f"--workers {workers}: deployment(s) {', '.join(names)} run vLLM replicas, and each "
            f"worker process would start its own set ({workers} x their replicas on fleet "
            "GPUs). Serve with --workers 1, or give them a running server as source "
            "(url:…, without gpu_model) (ADR 0012)"
        )
