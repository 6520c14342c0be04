"""Internal programs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from gpufleet.api.deps import Caller, Db
from gpufleet.api.schemas.programs import ProgramOut
from gpufleet.planning.scenario.model import Program
from gpufleet.services import programs

router = APIRouter(prefix="/v1/programs", tags=["programs"])


@router.post("", status_code=201)
def create(body: Annotated[Program, Body()], db: Db, caller: Caller) -> ProgramOut:
    """Add an internal program (operator): fields as in a scenario's `programs`."""
    return ProgramOut.of(programs.create_program(db, caller, body))


@router.get("")
def list_all(db: Db, caller: Caller) -> list[ProgramOut]:
    """Every internal program (operator)."""
    return [ProgramOut.of(p) for p in programs.list_programs(db, caller)]
