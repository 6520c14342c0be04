"""Internal programs: the lab's own training runs and inference needs."""

from __future__ import annotations

from gpufleet.adapters.db.repos import events
from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import programs as repo
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict, InvalidInput, Issue
from gpufleet.domain.events import NewEvent
from gpufleet.domain.programs import Program
from gpufleet.planning.scenario import InferenceProgram, TrainingProgram
from gpufleet.services.database import Database
from gpufleet.services.scenario_rows import INTERNAL_TENANT, ensure_tenants, program_rows


def create_program(
    db: Database, caller: Principal, spec: TrainingProgram | InferenceProgram
) -> Program:
    caller.require_operator()
    with db.write() as conn:
        models = fleet_repo.models(conn)
        issues = [Issue(field, message) for field, message in spec.rule_issues()]
        issues += [
            Issue(f"gpu_models[{k}]", f"unknown GPU model {name!r}")
            for k, name in enumerate(spec.gpu_models)
            if name not in models
        ]
        settings = fleet_repo.settings(conn)
        if isinstance(spec, InferenceProgram) and isinstance(spec.gpus, list):
            periods = settings.horizon.periods if settings else None
            if periods is None or len(spec.gpus) != periods:
                issues.append(Issue("gpus", f"must have one entry per period ({periods})"))
        if issues:
            raise InvalidInput("program is invalid", issues)
        if spec.name in repo.names(conn):
            raise Conflict(f"program {spec.name!r} already exists")
        now = db.clock()
        _, tenant_ids = ensure_tenants(conn, [], True, now)
        repo.add(conn, program_rows([spec], tenant_ids[INTERNAL_TENANT], now))
        events.append(conn, [NewEvent("program.created", spec.name, None)], now)
        program = repo.get(conn, spec.name)
    assert program is not None
    return program


def list_programs(db: Database, caller: Principal) -> list[Program]:
    caller.require_operator()
    with db.read() as conn:
        return repo.list_all(conn)
