"""Rating and SLA credit tiers, checked against exact fractions (hypothesis)."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gpufleet.billing import (
    DEFAULT_TIERS,
    CreditTier,
    LeaseMonthUsage,
    Month,
    RatedLine,
    TokenUsageGroup,
    credit_ppm,
    rate_lease_month,
    rate_tokens,
    round_half_down,
    validate_tiers,
)
from gpufleet.billing.adjust import BilledLine, adjust_lease, adjust_tokens, billed_by_key
from gpufleet.billing.invoice import Invoice, invoice_id, numbered, totals_of
from gpufleet.billing.reconcile import PlannedRental, planned_by_month
from gpufleet.billing.render import invoice_csv, invoice_html

prices = st.integers(min_value=1, max_value=100_000_000)  # up to $100 per GPU-hour
seconds = st.integers(min_value=0, max_value=100_000 * 744 * 3600)  # 100k GPUs, a month


def exact_half_down(value: Fraction) -> int:
    return math.ceil(value - Fraction(1, 2))


@given(st.integers(-(10**30), 10**30), st.integers(1, 10**12))
def test_round_half_down_is_the_nearest_integer_with_halves_going_down(n: int, d: int) -> None:
    result = round_half_down(n, d)
    assert result == exact_half_down(Fraction(n, d))
    assert abs(Fraction(n, d) - result) <= Fraction(1, 2)


def test_exact_halves_go_down() -> None:
    assert [round_half_down(n, 2) for n in (1, 3, -1, 5)] == [0, 1, -1, 2]
    assert round_half_down(7, 4) == 2  # 1.75 is nearer 2
    with pytest.raises(ValueError, match="positive"):
        round_half_down(1, 0)


def default_share(delivered: int, promised: int) -> int:
    """The default tiers written out by hand: < 99.5% → 10%, < 99% → 30%, < 95% → 100%."""
    if promised == 0:
        return 0
    availability = Fraction(delivered, promised)
    if availability < Fraction(95, 100):
        return 1_000_000
    if availability < Fraction(99, 100):
        return 300_000
    if availability < Fraction(995, 1000):
        return 100_000
    return 0


@given(st.integers(0, 10**15), st.integers(0, 10**15))
def test_default_tiers_match_the_table(a: int, b: int) -> None:
    delivered, promised = min(a, b), max(a, b)
    assert credit_ppm(delivered, promised, DEFAULT_TIERS) == default_share(delivered, promised)


@given(st.integers(1, 10**12))
def test_tier_boundaries_are_not_below_themselves(k: int) -> None:
    promised = 1000 * k
    assert credit_ppm(995 * k, promised, DEFAULT_TIERS) == 0  # exactly 99.5%: no credit
    assert credit_ppm(995 * k - 1, promised, DEFAULT_TIERS) == 100_000
    assert credit_ppm(990 * k, promised, DEFAULT_TIERS) == 100_000  # exactly 99%
    assert credit_ppm(990 * k - 1, promised, DEFAULT_TIERS) == 300_000
    assert credit_ppm(950 * k, promised, DEFAULT_TIERS) == 300_000  # exactly 95%
    assert credit_ppm(950 * k - 1, promised, DEFAULT_TIERS) == 1_000_000


tiers_strategy = st.lists(
    st.tuples(st.integers(1, 1_000_000), st.integers(0, 1_000_000)), min_size=1, max_size=5,
    unique_by=lambda t: t[0],
).map(lambda pairs: [CreditTier(b, c) for b, c in pairs])  # fmt: skip


@given(tiers_strategy, st.integers(1, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_less_delivered_never_earns_less_credit(
    tiers: list[CreditTier], promised: int, a: int, b: int
) -> None:
    assume(not validate_tiers(tiers))  # usable lists only (the rest are refused when set)
    more, less = min(max(a, b), promised), min(a, b, promised)
    assert credit_ppm(less, promised, tiers) >= credit_ppm(more, promised, tiers)


def test_tier_validation_names_what_is_wrong() -> None:
    assert validate_tiers(DEFAULT_TIERS) == []
    assert validate_tiers([CreditTier(0, 10)])[0][0] == "tiers[0].below_percent"
    assert validate_tiers([CreditTier(990_000, 1_000_001)])[0][0] == "tiers[0].credit_percent"
    assert validate_tiers([CreditTier(990_000, 1), CreditTier(990_000, 2)])
    assert validate_tiers([CreditTier(990_000, 300_000), CreditTier(995_000, 500_000)])


def usage(rental_class: str, price: int, promised: int, delivered: int) -> LeaseMonthUsage:
    return LeaseMonthUsage("l-1", 7, "H100", rental_class, price, promised, delivered,
                           promised - delivered, 744)  # fmt: skip


@given(prices, seconds, seconds)
def test_reserved_pays_for_promised_less_its_credit(price: int, a: int, b: int) -> None:
    promised, delivered = max(a, b), min(a, b)
    lines = rate_lease_month(usage("reserved", price, promised, delivered))
    charge = exact_half_down(Fraction(promised * price, 3600))
    assert lines[0].kind == "gpu_reserved"
    assert lines[0].amount_micros == charge
    credit = exact_half_down(charge * Fraction(default_share(delivered, promised), 1_000_000))
    assert sum(line.amount_micros for line in lines[1:]) == -credit
    assert 0 <= credit <= charge
    assert len(lines) == (2 if credit else 1)


@given(prices, seconds, seconds)
def test_interruptible_pays_only_for_what_ran(price: int, a: int, b: int) -> None:
    promised, delivered = max(a, b), min(a, b)
    (line,) = rate_lease_month(usage("interruptible", price, promised, delivered))
    assert line.kind == "gpu_interruptible"
    assert line.amount_micros == exact_half_down(Fraction(delivered * price, 3600))


def test_an_unknown_rental_class_is_refused() -> None:
    with pytest.raises(ValueError, match="spot"):
        rate_lease_month(usage("spot", 1, 1, 1))


@given(st.integers(0, 10**12), st.integers(0, 10**12), prices, prices)
def test_tokens_are_priced_per_million_and_rounded_once(
    tin: int, tout: int, pin: int, pout: int
) -> None:
    line = rate_tokens(TokenUsageGroup(1, "m", pin, pout, tin, tout, 3))
    assert line.amount_micros == exact_half_down(Fraction(tin * pin + tout * pout, 10**6))


def test_rounding_once_per_line_not_per_request() -> None:
    # 1,000 requests of one token at $0.40 per million: 0.4 micro-dollars each. Rounded per
    # request they would bill nothing; rounded once on the line they bill 400.
    line = rate_tokens(TokenUsageGroup(1, "m", 400_000, 0, 1000, 0, 1000))
    assert line.amount_micros == 400


def test_months_parse_and_bound_calendar_months() -> None:
    december = Month.parse("2026-12")
    assert december.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert Month.of(december.end - timedelta(microseconds=1)) == december
    assert str(Month.parse("2027-02").next()) == "2027-03"
    for bad in ("2026-13", "2026-00", "2026-1", "26-01", "2026-01-01", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Month.parse(bad)


def test_an_invoice_renders_as_csv_and_html_with_the_same_totals() -> None:
    month = Month(2027, 1)
    rated = rate_lease_month(usage("reserved", 2_200_000, 744 * 3600 * 8, 700 * 3600 * 8))
    rated.append(rate_tokens(TokenUsageGroup(7, "<b>model</b>", 150_000, 600_000, 10**6, 10**5, 9)))
    lines = numbered(month, 7, rated)
    invoice = Invoice(invoice_id(month, 7), 7, "acme & co", str(month), month.end,
                      totals_of([line.amount_micros for line in lines]), tuple(lines))  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(invoice_csv(invoice))))
    items = [row for row in rows if row["line"]]
    assert len(items) == 3
    total = next(row for row in rows if row["kind"] == "total")["amount_usd"]
    assert sum(Fraction(row["amount_usd"]) for row in items) == Fraction(total)
    assert Fraction(total) * 10**6 == invoice.totals.total_micros
    page = invoice_html(invoice)
    assert "&lt;b&gt;model&lt;/b&gt;" in page
    assert "acme &amp; co" in page
    assert "<b>model</b>" not in page
    assert invoice.id.startswith("inv-202701-")
    assert invoice_id(month, 8) != invoice.id != invoice_id(month.next(), 7)


@given(st.integers(0, 24 * 120), st.integers(1, 24 * 120), st.integers(1, 100_000), prices)
def test_planned_revenue_splits_a_rental_by_calendar_month(
    start_h: int, length_h: int, gpus: int, price: int
) -> None:
    origin = datetime(2027, 1, 1, tzinfo=UTC)
    start, end = origin + timedelta(hours=start_h), origin + timedelta(hours=start_h + length_h)
    months = [Month(2027, m) for m in range(1, 10)]
    planned = planned_by_month([PlannedRental(gpus, start, end, price)], months)
    for month in months:
        lo, hi = max(start, month.start), min(end, month.end)
        hours = max(0, int((hi - lo).total_seconds()) // 3600)
        assert planned[str(month)] == exact_half_down(Fraction(gpus * hours * price))
    assert sum(planned.values()) == gpus * length_h * price  # whole hours: no rounding


# --- adjustments for late usage (ADR 0013) ----------------------------------------------

hourly = st.lists(
    st.tuples(st.integers(0, 28_800), st.booleans()), min_size=1, max_size=60
)  # (delivered GPU-seconds of an 8-GPU hour, whether the row came late)


def _usage(rows: list[int], price: int, rental_class: str) -> LeaseMonthUsage:
    delivered = sum(rows)
    promised = 28_800 * len(rows)
    return LeaseMonthUsage(
        "lease-1", 7, "H100", rental_class, price, promised, delivered, promised - delivered,
        len(rows),
    )  # fmt: skip


def _as_billed(lines: list[RatedLine]) -> list[BilledLine]:
    return [BilledLine(7, r.key, r.kind, r.amount_micros, r.lease_id, r.detail) for r in lines]


@given(hourly, hourly, prices, st.sampled_from(["reserved", "interruptible"]))
def test_close_then_adjustments_bill_what_one_close_of_every_row_would(
    first: list[tuple[int, bool]], second: list[tuple[int, bool]], price: int, rental_class: str
) -> None:
    """Rows split at random into those the close saw, those of a first adjustment and those
    of a second: the three invoices' lines sum, per kind, to one close over all the rows."""
    rows = first + second
    at_close = [d for d, late in first if not late]
    by_first = at_close + [d for d, late in first if late]
    everything = [d for d, _ in rows]
    assume(at_close)
    billed = rate_lease_month(_usage(at_close, price, rental_class))
    one = adjust_lease(_usage(by_first, price, rental_class), billed_by_key(_as_billed(billed))
                       .get((7, "lease-1")))  # fmt: skip
    two = adjust_lease(
        _usage(everything, price, rental_class),
        billed_by_key(_as_billed(billed + one)).get((7, "lease-1")),
    )
    whole = rate_lease_month(_usage(everything, price, rental_class))
    for kind in ("gpu_reserved", "gpu_interruptible", "sla_credit"):
        got = sum(r.amount_micros for r in billed + one + two if r.kind == kind)
        assert got == sum(r.amount_micros for r in whole if r.kind == kind)
    late_rows = sum(r.usage_rows for r in one + two if r.kind.startswith("gpu_"))
    assert late_rows == len(everything) - len(at_close)
    assert (one == []) == (len(by_first) == len(at_close))  # nothing late: no line at all
    assert (
        adjust_lease(
            _usage(everything, price, rental_class),
            billed_by_key(_as_billed(billed + one + two)).get((7, "lease-1")),
        )
        == []
    )


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=2), prices)
def test_late_requests_bill_the_difference_to_one_rounding(
    requests: list[tuple[int, int]], price: int
) -> None:
    def group(part: list[tuple[int, int]]) -> TokenUsageGroup:
        return TokenUsageGroup(7, "m", price, 3 * price, sum(i for i, _ in part),
                               sum(o for _, o in part), len(part))  # fmt: skip

    half = len(requests) // 2
    billed = rate_tokens(group(requests[:half]))
    late = adjust_tokens(group(requests), billed_by_key(_as_billed([billed]))[(7, billed.key)])
    assert late is not None
    assert billed.amount_micros + late.amount_micros == rate_tokens(group(requests)).amount_micros
    assert late.usage_rows == len(requests) - half
