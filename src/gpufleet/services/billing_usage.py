"""Importing metered lease usage: what a meter outside this process (a node agent's
exporter, a replayed simulation) calls to hand billing its hourly rows.

Each hour names its lease, or the rental request the lease was signed from (a simulation
knows contracts by request). The lease, not the caller, decides the tenant and the GPU
model. Rows are checked whole before anything is written (promised = delivered + shortfall,
none negative, whole clock hours in UTC, each lease's hour once), and a (lease, hour) stored
before is left as it was: a row, once written, is what billing rated. Hours of a month
already closed are stored too, and named, so the operator knows to run `billing adjust`
(ADR 0013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gpufleet.adapters.db.repos import billing as repo
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
        known = [(k, h) for k, h in enumerate(hours) if h.holder in leases]
        twice = _given_twice([(k, leases[h.holder][0], h.hour_start) for k, h in known])
        if twice:
            raise InvalidInput("metered hours are invalid", twice[:MOST_ISSUES])
        rows = [
            {
                "lease_id": lease_id,
                "hour_start": h.hour_start.astimezone(UTC),
                "tenant_id": tenant_id,
                "gpu_model": model,
                "promised_gpu_seconds": h.promised,
                "delivered_gpu_seconds": h.delivered,
                "shortfall_gpu_seconds": h.shortfall,
            }
            for _, h in known
            for lease_id, tenant_id, model in [leases[h.holder]]
        ]
        written = repo.add_metered_hours(conn, rows)
        closed = set(repo.closed_months(conn))
    unknown = sorted({h.holder for h in hours} - set(leases))
    months = sorted({str(Month.of(h.hour_start)) for _, h in known} & closed)
    return UsageImport(written, len(rows) - written, unknown, months)


def _given_twice(hours: Sequence[tuple[int, str, datetime]]) -> list[Issue]:
    """(position, lease, hour) of each hour read before in the same import: two readings of
    one hour cannot both be stored, and which one is right is the meter's to say. (A lease
    may be named by its id in one and by its request's in another.)"""
    first: dict[tuple[str, datetime], int] = {}
    found = []
    for k, lease_id, start in hours:
        seen = first.setdefault((lease_id, start), k)
        if seen != k:
            when = start.astimezone(UTC).isoformat()
            message = f"the same lease ({lease_id}) and hour ({when}) as hours[{seen}]"
            found.append(Issue(f"hours[{k}]", message))
    return found


def _problems(k: int, hour: MeteredHour) -> list[Issue]:
    path = f"hours[{k}]"
    found: list[Issue] = []
    start = hour.hour_start
    if start.tzinfo is None or start.utcoffset() is None:
        found.append(Issue(f"{path}.hour_start", "must carry a time zone (UTC)"))
    elif start.astimezone(UTC).replace(minute=0, second=0, microsecond=0) != start:
        # In UTC: a zone half an hour off (India's) would otherwise store 04:30 as an hour.
        found.append(Issue(f"{path}.hour_start", "must be the start of a clock hour in UTC"))
    if min(hour.promised, hour.delivered, hour.shortfall) < 0:
        found.append(Issue(path, "GPU-seconds must not be negative"))
    elif hour.promised != hour.delivered + hour.shortfall:
        found.append(Issue(path, "promised must equal delivered + shortfall"))
    return found
