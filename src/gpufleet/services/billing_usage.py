"""Importing metered lease usage: what a meter outside this process (a node agent's
exporter, a replayed simulation) calls to hand billing its hourly rows.

Each hour names its lease, or the rental request the lease was signed from (a simulation
knows contracts by request). The lease, not the caller, decides the tenant and the GPU
model. Rows are checked whole before anything is written (promised = delivered + shortfall,
none negative, whole clock hours), and a (lease, hour) stored before is left as it was:
a row, once written, is what billing rated. Hours of a month already closed are stored too,
and named, so the operator knows to run `billing adjust` (ADR 0013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.repos import operations as operations_repo
from gpufleet.billing import Month
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.services.database import Database

MOST_ISSUES = 20  # enough to see what is wrong without a million-line answer


@dataclass(frozen=True)
class MeteredHour:
    """GPU-seconds of one lease over the clock hour starting at `hour_start` (UTC)."""

    holder: str  # a lease id, or the id of the request a lease was signed from
    hour_start: datetime
    promised: int
    delivered: int
    shortfall: int


@dataclass(frozen=True)
class UsageImport:
    written: int  # rows new here
    already_stored: int  # (lease, hour) written before: left as it was
    unknown_holders: list[str]  # no lease here: not stored, so never billed
    closed_months: list[str]  # closed months these hours fall in: run `billing adjust`


def import_lease_usage(
    db: Database, caller: Principal, hours: Sequence[MeteredHour]
) -> UsageImport:
    """Store metered hours for billing (operator)."""
    caller.require_operator()
    problems = [issue for k, hour in enumerate(hours) for issue in _problems(k, hour)]
    if problems:
        raise InvalidInput("metered hours are invalid", problems[:MOST_ISSUES])
    with db.write() as conn:
        leases = repo.lease_holders(conn)
        known = [h for h in hours if h.holder in leases]
        rows = [
            (lease_id, h.hour_start, tenant_id, model, h.promised, h.delivered, h.shortfall)
            for h in known
            for lease_id, tenant_id, model in [leases[h.holder]]
        ]
        written = operations_repo.add_usage(conn, rows)
        closed = set(repo.closed_months(conn))
    unknown = sorted({h.holder for h in hours} - set(leases))
    months = sorted({str(Month.of(h.hour_start)) for h in known} & closed)
    return UsageImport(written, len(rows) - written, unknown, months)


def _problems(k: int, hour: MeteredHour) -> list[Issue]:
    path = f"hours[{k}]"
    found: list[Issue] = []
    start = hour.hour_start
    if start.tzinfo is None or start.utcoffset() is None:
        found.append(Issue(f"{path}.hour_start", "must carry a time zone (UTC)"))
    elif (start.minute, start.second, start.microsecond) != (0, 0, 0):
        found.append(Issue(f"{path}.hour_start", "must be the start of a clock hour"))
    if min(hour.promised, hour.delivered, hour.shortfall) < 0:
        found.append(Issue(path, "GPU-seconds must not be negative"))
    elif hour.promised != hour.delivered + hour.shortfall:
        found.append(Issue(path, "promised must equal delivered + shortfall"))
    return found
