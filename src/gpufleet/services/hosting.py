"""Hosting use cases: the model catalog, deployments, limits, usage and inference keys."""

from __future__ import annotations

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import access as access_repo
from gpufleet.adapters.db.repos import events
from gpufleet.domain.access import Principal, Tenant, TenantKind
from gpufleet.domain.errors import Conflict, InvalidInput, Issue, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.domain.money import micros_to_float_usd, usd_to_micros
from gpufleet.domain.timeutil import to_utc
from gpufleet.hosting import repo
from gpufleet.hosting.catalog import (
    DEFAULT_CONTEXT,
    DEFAULT_MODEL,
    DEFAULT_SOURCE,
    BackendKind,
    Deployment,
    DeploymentKind,
    HostedModel,
    parse_source,
)
from gpufleet.hosting.keys import InferenceCaller, mint_inference_key
from gpufleet.hosting.limits import LimitSet, pico_to_micros_up
from gpufleet.hosting.replicas import holder_name
from gpufleet.hosting.schemas import (
    DeploymentCreate,
    DeploymentOut,
    InferenceKeyCreate,
    InferenceKeyCreated,
    LimitsOut,
    LimitsSet,
    ModelCreate,
    ReplicaNode,
    ReplicaOut,
    UsageOut,
)
from gpufleet.hosting.workers import check_workers, serve_workers
from gpufleet.services.database import Database

# The default model's prices: USD per million tokens (input, output).
DEFAULT_PRICES = ("0.02", "0.04")


def create_model(db: Database, caller: Principal, body: ModelCreate) -> HostedModel:
    caller.require_operator()
    backend = BackendKind(body.backend)
    parse_source(body.source, backend)
    if backend is BackendKind.TRANSFORMERS and body.gpus_per_replica:
        raise InvalidInput(
            "bad model", [Issue("gpus_per_replica", "the transformers backend runs on CPU: 0")]
        )
    values = {
        "name": body.name,
        "source": body.source,
        "backend": backend.value,
        "gpu_model": body.gpu_model,
        "gpus_per_replica": body.gpus_per_replica,
        "context_length": body.context_length,
        "input_price_micros": usd_to_micros(body.input_price_per_million),
        "output_price_micros": usd_to_micros(body.output_price_per_million),
    }
    with db.write() as conn:
        if repo.model_by_name(conn, body.name):
            raise Conflict(f"model {body.name!r} already exists")
        if body.gpu_model and body.gpu_model not in _gpu_models(conn):
            raise InvalidInput(
                "bad model", [Issue("gpu_model", f"unknown GPU model {body.gpu_model!r}")]
            )
        model = repo.add_model(conn, values, db.clock())
        events.append(
            conn,
            [NewEvent("model.created", model.name, None, {"backend": backend.value})],
            db.clock(),
        )
    return model


def _gpu_models(conn: Connection) -> set[str]:
    from sqlalchemy import select

    from gpufleet.adapters.db.tables import gpu_models

    return set(conn.execute(select(gpu_models.c.name)).scalars())


def list_models(db: Database, caller: Principal) -> list[HostedModel]:
    caller.require_operator()
    with db.read() as conn:
        return repo.list_models(conn)


def create_deployment(db: Database, caller: Principal, body: DeploymentCreate) -> DeploymentOut:
    caller.require_operator()
    kind = DeploymentKind(body.kind)
    if (kind is DeploymentKind.PROVISIONED) != (body.tenant is not None):
        raise InvalidInput(
            "bad deployment",
            [Issue("tenant", "a provisioned deployment names its tenant; a serverless one none")],
        )
    if body.max_replicas < body.min_replicas:
        raise InvalidInput(
            "bad deployment", [Issue("max_replicas", "must be at least min_replicas")]
        )
    with db.write() as conn:
        if repo.deployment_by_name(conn, body.name):
            raise Conflict(f"deployment {body.name!r} already exists")
        model = repo.model_by_name(conn, body.model)
        if model is None:
            raise InvalidInput(
                "bad deployment",
                [Issue("model", f"no model {body.model!r} in the catalog (POST /v1/admin/models)")],
            )
        tenant: Tenant | None = None
        if body.tenant is not None:
            tenant = access_repo.tenant_by_name(conn, body.tenant)
            if tenant is None or tenant.kind is not TenantKind.EXTERNAL:
                raise InvalidInput(
                    "bad deployment", [Issue("tenant", f"no external tenant {body.tenant!r}")]
                )
        values = {
            "name": body.name,
            "model_id": model.id,
            "kind": kind.value,
            "tenant_id": tenant.id if tenant else None,
            "min_replicas": body.min_replicas,
            "max_replicas": body.max_replicas,
            "scale_metric": body.scale_metric,
            "scale_target": body.scale_target,
        }
        deployment = repo.add_deployment(conn, values, db.clock())
        check_workers([deployment], serve_workers())  # several gateway workers: ADR 0012
        events.append(
            conn,
            [
                NewEvent(
                    "deployment.created",
                    deployment.name,
                    deployment.tenant_id,
                    {"model": model.name, "kind": kind.value},
                )
            ],
            db.clock(),
        )
        return DeploymentOut.of(deployment, (0, 0))


def _visible(conn: Connection, caller: Principal, name: str) -> Deployment:
    deployment = repo.deployment_by_name(conn, name)
    if deployment is None or not (caller.is_operator or deployment.usable_by(caller.tenant_id)):
        raise NotFound.of("deployment", name)
    return deployment


def get_deployment(db: Database, caller: Principal, name: str) -> DeploymentOut:
    with db.read() as conn:
        deployment = _visible(conn, caller, name)
        return DeploymentOut.of(deployment, repo.running_replicas(conn, deployment.id))


def list_deployments(db: Database, caller: Principal) -> list[DeploymentOut]:
    """Every deployment (operator), or those the tenant may call."""
    with db.read() as conn:
        found = repo.list_deployments(conn, None if caller.is_operator else caller.tenant_id or -1)
        running = repo.running_replicas_of(conn, [d.id for d in found])
        return [DeploymentOut.of(d, running[d.id]) for d in found]


def check_serve_workers(db: Database, workers: int) -> None:
    """`serve --workers N`: refuse (Conflict, naming them) while some deployment would get
    N sets of vLLM replicas, one per worker process (ADR 0012)."""
    if workers <= 1:
        return
    with db.read() as conn:
        check_workers(repo.list_deployments(conn, None), workers)


def callable_deployments(db: Database, caller: InferenceCaller) -> list[Deployment]:
    """What `GET /v1/models` lists: the serverless deployments and the caller's tenant's
    provisioned ones; every deployment for an operator key (which calls none)."""
    with db.read() as conn:
        return repo.list_deployments(conn, caller.tenant_id)


def list_replicas(
    db: Database, caller: Principal, name: str, state: str | None = None, limit: int = 100
) -> list[ReplicaOut]:
    """A deployment's replicas, newest first, and the fleet nodes a GPU replica's placement
    holds (operator). Node names are the operator's: to a tenant every deployment answers
    as missing, its own included (ADR 0003)."""
    if not caller.is_operator:
        raise NotFound.of("deployment", name)
    with db.read() as conn:
        deployment = repo.deployment_by_name(conn, name)
        if deployment is None:
            raise NotFound.of("deployment", name)
        rows = repo.replicas_of(conn, deployment.id, state, limit)
        on_fleet = deployment.model.on_fleet  # else no placement holds its GPUs
        holders = {r.id: holder_name(name, r.id) for r in rows if on_fleet and r.gpus > 0}
        held = repo.nodes_held_by(conn, list(holders.values()))
    return [
        ReplicaOut(
            id=r.id,
            state=r.state,
            gpus=r.gpus,
            started_at=to_utc(r.started_at),
            stopped_at=to_utc(r.stopped_at) if r.stopped_at is not None else None,
            endpoint=r.endpoint,
            holder=holders.get(r.id),
            nodes=[
                ReplicaNode(
                    node=a.name,
                    node_id=a.node_id,
                    gpus=a.gpus,
                    start=to_utc(a.start),
                    end=to_utc(a.end),
                )
                for a in held.get(holders.get(r.id, ""), [])
            ],
        )
        for r in rows
    ]


def set_replicas(db: Database, caller: Principal, name: str, low: int, high: int) -> DeploymentOut:
    caller.require_operator()
    if high < low:
        raise InvalidInput(
            "bad replica bounds", [Issue("max_replicas", "must be at least min_replicas")]
        )
    with db.write() as conn:
        deployment = _visible(conn, caller, name)
        repo.set_replica_bounds(conn, deployment.id, low, high)
        events.append(
            conn,
            [NewEvent("deployment.scaled", name, deployment.tenant_id, {"min": low, "max": high})],
            db.clock(),
        )
        fresh = _visible(conn, caller, name)
        return DeploymentOut.of(fresh, repo.running_replicas(conn, fresh.id))


def set_limits(db: Database, caller: Principal, body: LimitsSet) -> LimitsOut:
    caller.require_operator()
    budget = usd_to_micros(body.budget_usd) if body.budget_usd is not None else None
    limits = LimitSet(body.requests_per_minute, body.tokens_per_minute, budget)
    with db.write() as conn:
        tenant = access_repo.tenant_by_name(conn, body.tenant)
        if tenant is None:
            raise InvalidInput("bad limits", [Issue("tenant", f"no tenant {body.tenant!r}")])
        if body.key_id is not None:
            key = access_repo.get_key(conn, body.key_id)
            if key is None or key.tenant_id != tenant.id:
                raise InvalidInput(
                    "bad limits",
                    [Issue("key_id", f"no key {body.key_id!r} of tenant {body.tenant!r}")],
                )
        repo.set_limits(conn, tenant.id, body.key_id or "*", limits, db.clock())
        events.append(
            conn,
            [
                NewEvent(
                    "inference_limits.set",
                    body.key_id or body.tenant,
                    tenant.id,
                    {
                        "rpm": limits.requests_per_minute,
                        "tpm": limits.tokens_per_minute,
                        "budget_micros": budget,
                    },
                )
            ],
            db.clock(),
        )
    return LimitsOut(
        tenant=body.tenant,
        key_id=body.key_id,
        requests_per_minute=limits.requests_per_minute,
        tokens_per_minute=limits.tokens_per_minute,
        budget_usd=micros_to_float_usd(budget) if budget is not None else None,
    )


def usage(db: Database, caller: Principal, tenant_name: str | None) -> list[UsageOut]:
    """Token usage per tenant, key, model and deployment: a tenant its own only."""
    with db.read() as conn:
        tenant_id: int | None = None if caller.is_operator else caller.tenant_id
        if tenant_name is not None:
            tenant = access_repo.tenant_by_name(conn, tenant_name)
            if tenant is None or not caller.sees_tenant(tenant.id):
                raise NotFound.of("tenant", tenant_name)
            tenant_id = tenant.id
        rows = repo.usage_rows(conn, tenant_id)
    return [
        UsageOut(
            tenant=r.name,
            key_id=r.key_id,
            model=r.model,
            deployment=r.deployment,
            requests=r.requests,
            input_tokens=int(r.input_tokens),
            output_tokens=int(r.output_tokens),
            cost_usd=micros_to_float_usd(pico_to_micros_up(int(r.cost_micro_micros))),
        )
        for r in rows
    ]


def create_inference_key(
    db: Database, caller: Principal, tenant_name: str, body: InferenceKeyCreate
) -> InferenceKeyCreated:
    """An inference-only key (operator for any tenant, a tenant for itself)."""
    with db.write() as conn:
        tenant = access_repo.tenant_by_name(conn, tenant_name)
        if tenant is None or not caller.sees_tenant(tenant.id):
            raise NotFound.of("tenant", tenant_name)
        new = mint_inference_key(tenant.id, body.name, db.clock(), body.expires_in_days)
        repo.add_scoped_key(conn, new.values)
        events.append(
            conn,
            [
                NewEvent(
                    "api_key.created",
                    new.key_id,
                    tenant.id,
                    {"name": body.name, "role": "tenant", "scopes": "inference"},
                )
            ],
            db.clock(),
        )
    return InferenceKeyCreated(
        id=new.key_id, tenant=tenant_name, name=body.name, scopes=["inference"], api_key=new.token
    )


def ensure_default_model(db: Database) -> bool:
    """Offer SmolLM2-135M-Instruct as the serverless deployment `smollm2-135m-instruct`
    (what `gpufleet serve` does on an embedded database). True when it was added now."""
    with db.write() as conn:
        if repo.deployment_by_name(conn, DEFAULT_MODEL):
            return False
        model = repo.model_by_name(conn, DEFAULT_MODEL)
        if model is None:
            values = {
                "name": DEFAULT_MODEL,
                "source": DEFAULT_SOURCE,
                "backend": BackendKind.TRANSFORMERS.value,
                "gpu_model": None,
                "gpus_per_replica": 0,
                "context_length": DEFAULT_CONTEXT,
                "input_price_micros": usd_to_micros(DEFAULT_PRICES[0]),
                "output_price_micros": usd_to_micros(DEFAULT_PRICES[1]),
            }
            model = repo.add_model(conn, values, db.clock())
        repo.add_deployment(
            conn,
            {
                "name": DEFAULT_MODEL,
                "model_id": model.id,
                "kind": "serverless",
                "tenant_id": None,
                "min_replicas": 0,
                "max_replicas": 1,
                "scale_metric": "queue_depth",
                "scale_target": 4,
            },
            db.clock(),
        )
    return True
