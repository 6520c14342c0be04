"""Rows of the hosting tables. Functions take a Connection inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from gpufleet.adapters.db.tables import api_keys, nodes, tenants
from gpufleet.adapters.db.tables_hosting import (
    deployment_replicas,
    deployments,
    hosted_models,
    inference_limits,
    token_usage,
)
from gpufleet.adapters.db.tables_placement import node_assignments
from gpufleet.domain.timeutil import to_utc
from gpufleet.hosting.catalog import (
    BackendKind,
    Deployment,
    DeploymentKind,
    HostedModel,
    ScaleMetric,
)
from gpufleet.hosting.limits import LimitSet, pico_to_micros_up
from gpufleet.hosting.owners import Owner, ProcessId


def _model(row: Any, prefix: str = "") -> HostedModel:
    def get(name: str) -> Any:
        return getattr(row, prefix + name)

    return HostedModel(
        id=get("id"),
        name=get("name"),
        source=get("source"),
        backend=BackendKind(get("backend")),
        gpu_model=get("gpu_model"),
        gpus_per_replica=get("gpus_per_replica"),
        context_length=get("context_length"),
        input_price_micros=get("input_price_micros"),
        output_price_micros=get("output_price_micros"),
        created_at=to_utc(get("created_at")),
    )


def add_model(conn: Connection, values: dict[str, Any], now: datetime) -> HostedModel:
    new_id = conn.execute(
        insert(hosted_models).values(**values, created_at=now).returning(hosted_models.c.id)
    ).scalar_one()
    found = model_by_name(conn, values["name"])
    assert found is not None
    assert found.id == new_id
    return found


def model_by_name(conn: Connection, name: str) -> HostedModel | None:
    row = conn.execute(select(hosted_models).where(hosted_models.c.name == name)).first()
    return _model(row) if row else None


def list_models(conn: Connection) -> list[HostedModel]:
    return [_model(r) for r in conn.execute(select(hosted_models).order_by(hosted_models.c.id))]


def _deployment_query() -> Any:
    model_columns = [c.label(f"m_{c.name}") for c in hosted_models.c]
    return (
        select(deployments, tenants.c.name.label("tenant_name"), *model_columns)
        .join(hosted_models, hosted_models.c.id == deployments.c.model_id)
        .outerjoin(tenants, tenants.c.id == deployments.c.tenant_id)
    )


def _deployment(row: Any) -> Deployment:
    return Deployment(
        id=row.id,
        name=row.name,
        model=_model(row, "m_"),
        kind=DeploymentKind(row.kind),
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        min_replicas=row.min_replicas,
        max_replicas=row.max_replicas,
        scale_metric=ScaleMetric(row.scale_metric),
        scale_target=row.scale_target,
        created_at=to_utc(row.created_at),
    )


def add_deployment(conn: Connection, values: dict[str, Any], now: datetime) -> Deployment:
    conn.execute(insert(deployments).values(**values, created_at=now))
    found = deployment_by_name(conn, values["name"])
    assert found is not None
    return found


def deployment_by_name(conn: Connection, name: str) -> Deployment | None:
    row = conn.execute(_deployment_query().where(deployments.c.name == name)).first()
    return _deployment(row) if row else None


def list_deployments(conn: Connection, visible_to_tenant: int | None) -> list[Deployment]:
    """Every deployment (None: the operator), or those a tenant may call."""
    query = _deployment_query().order_by(deployments.c.id)
    if visible_to_tenant is not None:
        query = query.where(
            or_(
                deployments.c.kind == DeploymentKind.SERVERLESS.value,
                deployments.c.tenant_id == visible_to_tenant,
            )
        )
    return [_deployment(r) for r in conn.execute(query)]


def deployments_with_min_replicas(conn: Connection) -> list[Deployment]:
    """Deployments that keep replicas running whether used or not (min_replicas >= 1)."""
    query = _deployment_query().where(deployments.c.min_replicas >= 1).order_by(deployments.c.id)
    return [_deployment(r) for r in conn.execute(query)]


def set_replica_bounds(conn: Connection, deployment_id: int, low: int, high: int) -> None:
    conn.execute(
        update(deployments)
        .where(deployments.c.id == deployment_id)
        .values(min_replicas=low, max_replicas=high)
    )


def start_replica(
    conn: Connection, deployment_id: int, gpus: int, now: datetime, owner: Owner | None = None
) -> int:
    """A replica whose server is loading (its GPUs are held from now): state `starting`,
    owned by the gateway process `owner` (None: it cannot be told, see owners.py)."""
    values: dict[str, Any] = {}
    if owner is not None:
        values = {
            "owner_host": owner.host,
            "owner_boot": owner.boot,
            "owner_pid": owner.process.pid,
            "owner_started": owner.process.started,
        }
    return int(
        conn.execute(
            insert(deployment_replicas)
            .values(
                deployment_id=deployment_id, gpus=gpus, state="starting", started_at=now, **values
            )
            .returning(deployment_replicas.c.id)
        ).scalar_one()
    )


def replica_launched(conn: Connection, replica_id: int, server: ProcessId) -> None:
    """The replica's model server process was launched (recorded before it loads)."""
    conn.execute(
        update(deployment_replicas)
        .where(deployment_replicas.c.id == replica_id)
        .values(server_pid=server.pid, server_started=server.started)
    )


def unstopped_replicas_on(conn: Connection, host: str) -> list[Any]:
    """The `starting`/`running` replicas whose owner ran on `host`, with their deployment's
    name, oldest first."""
    table = deployment_replicas
    query = (
        select(table, deployments.c.name.label("deployment"))
        .join(deployments, deployments.c.id == table.c.deployment_id)
        .where(table.c.owner_host == host, table.c.state.in_(["starting", "running"]))
        .order_by(table.c.id)
    )
    return list(conn.execute(query))


def replica_ready(conn: Connection, replica_id: int, endpoint: str | None) -> None:
    """The replica serves (at `endpoint`, for a model server): state `running`."""
    conn.execute(
        update(deployment_replicas)
        .where(deployment_replicas.c.id == replica_id, deployment_replicas.c.state == "starting")
        .values(state="running", endpoint=endpoint)
    )


def stop_replica(conn: Connection, replica_id: int, now: datetime) -> None:
    conn.execute(
        update(deployment_replicas)
        .where(
            deployment_replicas.c.id == replica_id,
            deployment_replicas.c.state.in_(["starting", "running"]),
        )
        .values(state="stopped", stopped_at=now)
    )


def replicas_of(conn: Connection, deployment_id: int, state: str | None, limit: int) -> list[Any]:
    """A deployment's replica rows, newest first (`state`: only the rows in that state)."""
    table = deployment_replicas
    query = select(table).where(table.c.deployment_id == deployment_id)
    if state is not None:
        query = query.where(table.c.state == state)
    return list(conn.execute(query.order_by(table.c.id.desc()).limit(limit)))


def nodes_held_by(conn: Connection, holders: list[str]) -> dict[str, list[Any]]:
    """The node assignments (node name and id, GPUs, interval) of each placement holder."""
    table = node_assignments
    columns = (table.c.holder, nodes.c.name, table.c.node_id, table.c.gpus, table.c.start)
    query = (
        select(*columns, table.c.end)
        .join(nodes, nodes.c.id == table.c.node_id)
        .where(table.c.holder.in_(holders))
        .order_by(table.c.holder, table.c.start, nodes.c.name)
    )
    found: dict[str, list[Any]] = {holder: [] for holder in holders}
    for row in conn.execute(query):
        found[row.holder].append(row)
    return found


def running_replicas(conn: Connection, deployment_id: int) -> tuple[int, int]:
    """(replicas, GPUs) running for a deployment."""
    return running_replicas_of(conn, [deployment_id])[deployment_id]


def running_replicas_of(conn: Connection, deployment_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(replicas, GPUs) running for each deployment, in one query ((0, 0) for none)."""
    found: dict[int, tuple[int, int]] = dict.fromkeys(deployment_ids, (0, 0))
    rows = conn.execute(
        select(
            deployment_replicas.c.deployment_id,
            func.count(),
            func.coalesce(func.sum(deployment_replicas.c.gpus), 0),
        )
        .where(
            deployment_replicas.c.deployment_id.in_(deployment_ids),
            deployment_replicas.c.state == "running",
        )
        .group_by(deployment_replicas.c.deployment_id)
    )
    for deployment_id, replicas, gpus in rows:
        found[int(deployment_id)] = (int(replicas), int(gpus))
    return found


def set_limits(
    conn: Connection, tenant_id: int, key_id: str, limits: LimitSet, now: datetime
) -> None:
    values = {
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "budget_micros": limits.budget_micros,
        "updated_at": now,
    }
    where = and_(inference_limits.c.tenant_id == tenant_id, inference_limits.c.key_id == key_id)
    if conn.execute(select(inference_limits.c.id).where(where).with_for_update()).first():
        conn.execute(update(inference_limits).where(where).values(**values))
    else:
        conn.execute(insert(inference_limits).values(tenant_id=tenant_id, key_id=key_id, **values))


def limits_of(conn: Connection, tenant_id: int, key_id: str) -> tuple[LimitSet, LimitSet]:
    """(the tenant's limits, the key's limits); unset means unlimited."""
    rows = conn.execute(
        select(inference_limits).where(
            inference_limits.c.tenant_id == tenant_id,
            inference_limits.c.key_id.in_(["*", key_id]),
        )
    ).all()
    found = {
        row.key_id: LimitSet(row.requests_per_minute, row.tokens_per_minute, row.budget_micros)
        for row in rows
    }
    return found.get("*", LimitSet()), found.get(key_id, LimitSet())


def spent_micros(
    conn: Connection, tenant_id: int, key_id: str | None, since: datetime | None = None
) -> int:
    """What a tenant (or one of its keys) has spent on tokens since `since` (None: ever),
    rounded up."""
    cost = (
        token_usage.c.input_tokens * token_usage.c.input_price_micros
        + token_usage.c.output_tokens * token_usage.c.output_price_micros
    )
    query = select(func.coalesce(func.sum(cost), 0)).where(token_usage.c.tenant_id == tenant_id)
    if key_id is not None:
        query = query.where(token_usage.c.key_id == key_id)
    if since is not None:
        query = query.where(token_usage.c.at >= since)
    total = int(conn.execute(query).scalar_one())
    return pico_to_micros_up(total)


def usage_rows(conn: Connection, tenant_id: int | None) -> list[Any]:
    """Token usage summed per tenant, key, model and deployment (None: every tenant)."""
    cost = (
        token_usage.c.input_tokens * token_usage.c.input_price_micros
        + token_usage.c.output_tokens * token_usage.c.output_price_micros
    )
    group = (tenants.c.name, token_usage.c.key_id, token_usage.c.model, token_usage.c.deployment)
    query = (
        select(
            *group,
            func.count().label("requests"),
            func.sum(token_usage.c.input_tokens).label("input_tokens"),
            func.sum(token_usage.c.output_tokens).label("output_tokens"),
            func.sum(cost).label("cost_micro_micros"),
        )
        .join(tenants, tenants.c.id == token_usage.c.tenant_id)
        .group_by(*group)
        .order_by(*group)
    )
    if tenant_id is not None:
        query = query.where(token_usage.c.tenant_id == tenant_id)
    return list(conn.execute(query))


def add_scoped_key(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(api_keys).values(**values))


def key_with_scopes(conn: Connection, key_id: str) -> Any:
    query = (
        select(api_keys, tenants.c.name.label("tenant_name"))
        .outerjoin(tenants, tenants.c.id == api_keys.c.tenant_id)
        .where(api_keys.c.id == key_id)
    )
    return conn.execute(query).first()
