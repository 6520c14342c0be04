"""token_usage rows: written once per request id whatever happens, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.domain.access import TenantKind
from gpufleet.hosting.metering import Meter, UsageRow, insert_usage
from gpufleet.services import access
from gpufleet.services.database import Database
from tests.conftest import Actor


def _row(db: Database, operator: Actor, request_id: str, output: int) -> UsageRow:
    tenant = access.list_tenants(db, operator.principal)
    return UsageRow(
        request_id,
        datetime(2027, 1, 5, tzinfo=UTC),
        tenant[0].id,
        "ikey_1",
        "m",
        "d",
        10,
        output,
        1_000_000,
        2_000_000,
    )


def test_a_request_is_billed_once_even_when_written_twice(db: Database, operator: Actor) -> None:
    access.create_tenant(db, operator.principal, "acme-ai", TenantKind.EXTERNAL)
    first = _row(db, operator, "chatcmpl-1", 5)
    with db.write() as conn:
        insert_usage(conn, [first, first, _row(db, operator, "chatcmpl-2", 7)])
    with db.write() as conn:  # a retry with other numbers does not replace the first count
        insert_usage(conn, [_row(db, operator, "chatcmpl-1", 99)])
    meter = Meter(db)
    meter.submit(first)
    meter.submit(_row(db, operator, "chatcmpl-3", 1))
    assert meter.flush()
    meter.close()
    with db.read() as conn:
        rows = dict(
            conn.execute(select(token_usage.c.request_id, token_usage.c.output_tokens)).all()
        )
        total = conn.execute(select(func.count()).select_from(token_usage)).scalar_one()
    assert rows == {"chatcmpl-1": 5, "chatcmpl-2": 7, "chatcmpl-3": 1}
    assert total == 3
    assert first.cost_pico == 10 * 1_000_000 + 5 * 2_000_000
