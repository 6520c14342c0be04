"""`gpufleet models|deployments|limits|token-usage|inference-keys|chat`: model hosting over HTTP."""

from __future__ import annotations

from typing import Any

import typer

from gpufleet.cli.output import console, emit_json, table
from gpufleet.cli.remote import api
from gpufleet.domain import errors
from gpufleet.hosting.schemas import (
    DeploymentCreate,
    DeploymentOut,
    InferenceKeyCreate,
    InferenceKeyCreated,
    LimitsOut,
    LimitsSet,
    ModelCreate,
    ModelOut,
    OpenAIModelList,
    ReplicaBounds,
    ReplicaOut,
    UsageOut,
)

JsonFlag = typer.Option(False, "--json", help="Print JSON instead of tables.")
models = typer.Typer(
    help="The model catalog (operator) and the models you may call.", no_args_is_help=True
)
deployments = typer.Typer(help="Deployments of catalog models.", no_args_is_help=True)
limits = typer.Typer(help="Inference limits per tenant or key (operator).", no_args_is_help=True)
inference_keys = typer.Typer(help="Inference-only API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models, name="models")
    app.add_typer(deployments, name="deployments")
    app.add_typer(limits, name="limits")
    app.add_typer(inference_keys, name="inference-keys")
    app.command("token-usage")(token_usage)
    app.command("chat")(chat)


@models.command("list")
def models_list(
    catalog: bool = typer.Option(False, "--catalog", help="The whole catalog (operator)."),
    as_json: bool = JsonFlag,
) -> None:
    """The models this key may call (`--catalog`: every model with its prices)."""
    if catalog:
        found = api().get("/v1/admin/models", list[ModelOut])
        if as_json:
            emit_json(found)
            return
        table(
            None,
            ["name", "backend", "source", "context", "$/M in", "$/M out"],
            [
                (
                    m.name,
                    m.backend,
                    m.source,
                    m.context_length,
                    m.input_price_per_million,
                    m.output_price_per_million,
                )
                for m in found
            ],
        )
        return
    listed = api().get("/v1/models", OpenAIModelList)
    if as_json:
        emit_json(listed)
        return
    table(None, ["model", "owned by"], [(m.id, m.owned_by) for m in listed.data])


@models.command("add")
def models_add(
    name: str,
    source: str = typer.Option(..., help="package:<pkg>/<file>, dir:<path> or url:http://…"),
    backend: str = typer.Option("transformers", help="transformers or vllm"),
    gpu_model: str | None = typer.Option(None, help="GPU model replicas are placed on"),
    gpus_per_replica: int = typer.Option(0, min=0),
    context_length: int = typer.Option(8192, min=16),
    input_price: str = typer.Option("0", help="USD per million input tokens"),
    output_price: str = typer.Option("0", help="USD per million output tokens"),
    as_json: bool = JsonFlag,
) -> None:
    """Add a model to the catalog (operator)."""
    body = ModelCreate.model_validate(
        {
            "name": name,
            "source": source,
            "backend": backend,
            "gpu_model": gpu_model,
            "gpus_per_replica": gpus_per_replica,
            "context_length": context_length,
            "input_price_per_million": input_price,
            "output_price_per_million": output_price,
        }
    )
    model = api().post("/v1/admin/models", ModelOut, body)
    emit_json(model) if as_json else console.print(f"model {model.name} added")


def _show_deployments(found: list[DeploymentOut]) -> None:
    table(
        None,
        ["name", "model", "kind", "tenant", "replicas", "running", "GPUs"],
        [
            (
                d.name,
                d.model,
                d.kind,
                d.tenant or "",
                f"{d.min_replicas}..{d.max_replicas}",
                d.running_replicas,
                d.running_gpus,
            )
            for d in found
        ],
    )


@deployments.command("list")
def deployments_list(as_json: bool = JsonFlag) -> None:
    """Deployments you may see (a tenant: serverless ones and its own)."""
    found = api().get("/v1/deployments", list[DeploymentOut])
    emit_json(found) if as_json else _show_deployments(found)


@deployments.command("show")
def deployments_show(name: str, as_json: bool = JsonFlag) -> None:
    """One deployment and its running replicas."""
    found = api().get(f"/v1/deployments/{name}", DeploymentOut)
    emit_json(found) if as_json else _show_deployments([found])


@deployments.command("replicas")
def deployments_replicas(
    name: str,
    state: str | None = typer.Option(None, help="Only starting, running or stopped ones"),
    limit: int = typer.Option(100, min=1, max=1000, help="The newest this many"),
    as_json: bool = JsonFlag,
) -> None:
    """A deployment's replicas and the fleet nodes they hold (operator)."""
    if state not in (None, "starting", "running", "stopped"):
        raise errors.InvalidInput(
            "bad option", [errors.Issue("--state", "must be starting, running or stopped")]
        )
    found = api().get(
        f"/v1/admin/deployments/{name}/replicas", list[ReplicaOut], state=state, limit=limit
    )
    if as_json:
        emit_json(found)
        return
    table(
        None,
        ["id", "state", "GPUs", "started", "stopped", "endpoint", "nodes"],
        [
            (
                r.id,
                r.state,
                r.gpus,
                r.started_at.isoformat(timespec="seconds"),
                r.stopped_at.isoformat(timespec="seconds") if r.stopped_at else "",
                r.endpoint or "",
                ", ".join(f"{n.node} x{n.gpus}" for n in r.nodes),
            )
            for r in found
        ],
    )


@deployments.command("create")
def deployments_create(
    name: str,
    model: str = typer.Option(..., help="A catalog model"),
    tenant: str | None = typer.Option(None, help="Provisioned for this tenant"),
    min_replicas: int = typer.Option(0, min=0),
    max_replicas: int = typer.Option(1, min=1),
    scale_metric: str = typer.Option("queue_depth", help="queue_depth or tokens_per_second"),
    scale_target: int = typer.Option(4, min=1, help="Load one replica carries"),
    as_json: bool = JsonFlag,
) -> None:
    """Deploy a model (operator): serverless, or provisioned with --tenant."""
    body = DeploymentCreate.model_validate(
        {
            "name": name,
            "model": model,
            "kind": "provisioned" if tenant else "serverless",
            "tenant": tenant,
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "scale_metric": scale_metric,
            "scale_target": scale_target,
        }
    )
    created = api().post("/v1/admin/deployments", DeploymentOut, body)
    emit_json(created) if as_json else console.print(f"deployment {created.name} created")


@deployments.command("scale")
def deployments_scale(
    name: str,
    min_replicas: int = typer.Option(..., min=0),
    max_replicas: int = typer.Option(..., min=1),
    as_json: bool = JsonFlag,
) -> None:
    """Set a deployment's replica bounds (operator)."""
    body = ReplicaBounds(min_replicas=min_replicas, max_replicas=max_replicas)
    changed = api().post(f"/v1/admin/deployments/{name}/replicas", DeploymentOut, body)
    emit_json(changed) if as_json else _show_deployments([changed])


@limits.command("set")
def limits_set(
    tenant: str,
    key_id: str | None = typer.Option(None, "--key", help="One key of the tenant"),
    rpm: int | None = typer.Option(None, min=0, help="Requests per minute"),
    tpm: int | None = typer.Option(None, min=0, help="Tokens per minute"),
    budget: str | None = typer.Option(
        None, help="USD the tenant (or key) may spend per calendar month (UTC)"
    ),
    as_json: bool = JsonFlag,
) -> None:
    """Set limits (unset ones become unlimited); over a limit the gateway answers 429."""
    body = LimitsSet.model_validate(
        {
            "tenant": tenant,
            "key_id": key_id,
            "requests_per_minute": rpm,
            "tokens_per_minute": tpm,
            "budget_usd": budget,
        }
    )
    set_ = api().post("/v1/admin/limits", LimitsOut, body)
    emit_json(set_) if as_json else console.print(set_.model_dump(), highlight=False)


def token_usage(
    tenant: str | None = typer.Option(None, help="Only this tenant (operator)"),
    as_json: bool = JsonFlag,
) -> None:
    """Tokens used per tenant, key, model and deployment, and their cost."""
    rows = api().get("/v1/token-usage", list[UsageOut], tenant=tenant)
    if as_json:
        emit_json(rows)
        return
    table(
        None,
        ["tenant", "key", "deployment", "requests", "in", "out", "USD"],
        [
            (
                r.tenant,
                r.key_id,
                r.deployment,
                r.requests,
                r.input_tokens,
                r.output_tokens,
                f"{r.cost_usd:.6f}",
            )
            for r in rows
        ],
    )


@inference_keys.command("create")
def inference_keys_create(
    tenant: str,
    name: str = typer.Option("inference"),
    expires_in_days: int | None = typer.Option(None, min=1),
    as_json: bool = JsonFlag,
) -> None:
    """Mint an inference-only key (it calls models and nothing else); shown this once."""
    body = InferenceKeyCreate(name=name, expires_in_days=expires_in_days)
    key = api().post(f"/v1/tenants/{tenant}/inference-keys", InferenceKeyCreated, body)
    if as_json:
        emit_json(key)
        return
    console.print(f"inference key {key.id} for {tenant}; shown this once:")
    console.print(key.api_key, highlight=False, soft_wrap=True)


def chat(
    message: str = typer.Argument(..., help="What to ask"),
    model: str = typer.Option("smollm2-135m-instruct", help="A deployment you may call"),
    max_tokens: int = typer.Option(128, min=1),
    temperature: float = typer.Option(0.0, min=0.0, max=2.0),
    as_json: bool = JsonFlag,
) -> None:
    """Ask a model one question through the gateway (your key needs scope `inference`)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": message}],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    answer = openai_post("/v1/chat/completions", body)
    if as_json:
        emit_json(answer)
        return
    console.print(answer["choices"][0]["message"]["content"], highlight=False, markup=False)
    usage = answer["usage"]
    console.print(
        f"[dim]{usage['prompt_tokens']} prompt + {usage['completion_tokens']} "
        f"completion tokens billed[/]"
    )


_BY_STATUS: dict[int, type[errors.GpufleetError]] = {
    400: errors.InvalidInput,
    401: errors.NotAuthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    429: errors.Unavailable,
}


def openai_post(path: str, body: dict[str, Any]) -> Any:
    """POST to an OpenAI-compatible route; its errors (OpenAI's shape) become ours."""
    response = api().send("POST", path, json=body)
    if response.status_code >= 400:
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise _BY_STATUS.get(response.status_code, errors.Unavailable)(message)
    return response.json()
