"""Exact money (integer micro-dollars) and UTC instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet.domain.money import micros_to_float_usd, micros_to_usd, usd_to_micros
from gpufleet.domain.rentals import Rental
from gpufleet.domain.timeutil import format_instant, parse_instant, to_utc

# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "micros"),
    [
        ("2.35", 2_350_000),
        ("5.4", 5_400_000),
        ("5.40", 5_400_000),
        ("0.1", 100_000),
        ("0.000001", 1),
        ("9999.999999", 9_999_999_999),
        ("1e-6", 1),
        ("1.5E3", 1_500_000_000),
        ("-2.10", -2_100_000),
        ("0", 0),
        (Decimal("2.35"), 2_350_000),
        (Decimal("12000000"), 12_000_000_000_000),
        (3, 3_000_000),
        (10**12, 10**18),
    ],
)
def test_usd_to_micros_is_exact(amount: Decimal | int | str, micros: int) -> None:
    result = usd_to_micros(amount)
    assert result == micros
    assert type(result) is int


def test_usd_to_micros_is_exact_where_floats_are_not() -> None:
    # 0.1 + 0.2 != 0.3 in binary; in micro-dollars the sum is exact.
    assert usd_to_micros("0.1") + usd_to_micros("0.2") == usd_to_micros("0.3")
    assert 0.1 + 0.2 != 0.3
    assert usd_to_micros("1234567.891011") == 1_234_567_891_011


@pytest.mark.parametrize(
    "amount", ["2.3500001", "0.0000001", "1e-7", Decimal("0.0000005"), "5.4000000001"]
)
def test_usd_to_micros_refuses_amounts_finer_than_a_micro_dollar(amount: Decimal | str) -> None:
    with pytest.raises(ValueError, match=r"^has more than 6 decimal places$"):
        usd_to_micros(amount)


@pytest.mark.parametrize("amount", ["two dollars", "", "1,000", "$5"])
def test_usd_to_micros_refuses_text_that_is_not_a_number(amount: str) -> None:
    with pytest.raises(ValueError, match=r"^not a number: "):
        usd_to_micros(amount)


def test_trailing_zeros_past_six_places_are_not_sub_micro() -> None:
    assert usd_to_micros("2.350000000") == 2_350_000


def test_micros_to_usd_is_exact_and_round_trips() -> None:
    assert micros_to_usd(2_350_000) == Decimal("2.35")
    assert micros_to_usd(1) == Decimal("0.000001")
    assert micros_to_float_usd(5_400_000) == 5.4


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_micros_survive_a_round_trip_through_dollars(micros: int) -> None:
    assert usd_to_micros(micros_to_usd(micros)) == micros


# --- time ----------------------------------------------------------------------------------


def test_parse_instant_reads_a_date_as_midnight_utc() -> None:
    parsed = parse_instant("2027-01-04")
    assert parsed == datetime(2027, 1, 4, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-04T00:00:00Z", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2027-01-04T12:34:56Z", datetime(2027, 1, 4, 12, 34, 56, tzinfo=UTC)),
        ("2027-01-04T12:34:56.250000Z", datetime(2027, 1, 4, 12, 34, 56, 250_000, tzinfo=UTC)),
        ("2027-01-04T00:00:00+00:00", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2027-01-04T09:00:00+09:00", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2027-01-03T19:00:00-05:00", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2027-01-04T05:30:00+05:30", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2027-01-04 01:00:00+01:00", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2026-12-31T23:00:00-01:00", datetime(2027, 1, 1, tzinfo=UTC)),  # crosses the year
    ],
)
def test_parse_instant_converts_zoned_datetimes_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is UTC
    assert (parsed.hour, parsed.minute) == (expected.hour, expected.minute)


@pytest.mark.parametrize("text", ["2027-01-04T00:00:00", "2027-01-04T12:00", "2027-01-04 08:00"])
def test_parse_instant_refuses_a_naive_datetime(text: str) -> None:
    with pytest.raises(ValueError, match="must have a time zone"):
        parse_instant(text)


@pytest.mark.parametrize(
    "text", ["next tuesday", "", "04/01/2027", "2027-01-04T25:00:00Z", "2027-1-4T00:00Z"]
)
def test_parse_instant_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"^must be a date YYYY-MM-DD or an ISO datetime"):
        parse_instant(text)


@pytest.mark.parametrize("text", ["2027-02-30", "2027-13-01", "2027-00-10"])
def test_parse_instant_refuses_dates_that_do_not_exist(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a calendar date"):
        parse_instant(text)


def test_to_utc_treats_naive_as_utc_and_converts_aware() -> None:
    assert to_utc(datetime(2027, 1, 4)) == datetime(2027, 1, 4, tzinfo=UTC)
    plus_two = datetime(2027, 1, 4, 2, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(plus_two) == datetime(2027, 1, 4, tzinfo=UTC)
    assert to_utc(plus_two).tzinfo is UTC


def test_format_instant_prints_midnight_as_a_date_and_others_with_z() -> None:
    assert format_instant(datetime(2027, 1, 4, tzinfo=UTC)) == "2027-01-04"
    assert format_instant(datetime(2027, 1, 4, 6, 30, tzinfo=UTC)) == "2027-01-04T06:30:00Z"
    assert format_instant(parse_instant("2027-01-04T09:00:00+09:00")) == "2027-01-04"


# --- rentals -------------------------------------------------------------------------------

START = datetime(2027, 1, 4, tzinfo=UTC)


def rental(gpus: int, hours: float, price_micros: int) -> Rental:
    return Rental(
        id="rfq-1", tenant_id=1, tenant="acme", gpu_model="H100", gpus=gpus, start=START,
        end=START + timedelta(hours=hours), price_micros=price_micros,
        rental_class="reserved", notice_hours=0, contiguous=False, status="pending",
        created_at=START,
    )  # fmt: skip


def test_value_micros_is_gpus_times_hours_times_price() -> None:
    # rfq-2 of SCENARIO.md: 8192 H100 for 13 weeks at $2.35.
    value = rental(8192, 13 * 168, 2_350_000).value_micros
    assert value == 8192 * 2184 * 2_350_000
    assert value == 42_044_620_800_000
    assert type(value) is int


def test_value_micros_is_exact_beyond_float_precision() -> None:
    # Ten million GPUs for ten years at $9,999.999999: about 8.8e21 micro-dollars, far past
    # the 2**53 below which floats hold every integer.
    hours = 87_600
    value = rental(10_000_000, hours, 9_999_999_999).value_micros
    assert value == 10_000_000 * hours * 9_999_999_999
    assert value > 2**53
    assert value != int(10_000_000 * float(hours) * 9_999.999999 * 1_000_000)


def test_value_micros_counts_part_hours_exactly() -> None:
    # 90 minutes of one GPU at $2.00: $3.00.
    assert rental(1, 1.5, 2_000_000).value_micros == 3_000_000
    # 20 minutes of 3 GPUs at $1.000001: 1 GPU-hour, $1.000001.
    assert rental(3, 1 / 3, 1_000_001).value_micros == 1_000_001


def test_value_micros_rounds_down_to_the_micro_dollar() -> None:
    # 90 minutes at 1.000001 $/h is 1.5000015 $: 1,500,001.5 micro-dollars, kept as 1,500,001.
    assert rental(1, 1.5, 1_000_001).value_micros == 1_500_001


@given(
    gpus=st.integers(min_value=1, max_value=10_000_000),
    seconds=st.integers(min_value=1, max_value=10 * 366 * 86_400),
    price_micros=st.integers(min_value=1, max_value=10_000_000_000),
)
def test_value_micros_is_the_floor_of_the_exact_value(
    gpus: int, seconds: int, price_micros: int
) -> None:
    r = replace(rental(1, 1, 1), gpus=gpus, end=START + timedelta(seconds=seconds),
                price_micros=price_micros)  # fmt: skip
    exact = Fraction(gpus * seconds * price_micros, 3600)
    assert r.value_micros == int(exact)  # floor: every factor is positive
    assert r.value_micros <= exact < r.value_micros + 1
