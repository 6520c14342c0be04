"""Capacity C[m,t] = floor((1 − unavailable_fraction) × installed GPUs of m online in t)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet.planning.capacity import CapacityStep, capacity_by_period, capacity_steps
from gpufleet.planning.scenario import Cluster, Horizon

# Weeks start on Mondays: period t starts 2027-01-04 + 7t days.
WEEKS = Horizon.model_validate({"start": "2027-01-04", "period": "week", "periods": 6})
DAYS = Horizon.model_validate({"start": "2027-01-04", "period": "day", "periods": 10})


def cluster(name: str, gpus: int, model: str = "H100", **extra: Any) -> Cluster:
    """A cluster of exactly `gpus` GPUs (one GPU per node, one node per block, one pod)."""
    return Cluster.model_validate(
        {"name": name, "gpu_model": model, "gpus_per_node": 1, "nodes_per_block": 1,
         "blocks_per_pod": gpus, "pods": 1, **extra}
    )  # fmt: skip


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_installed_gpus_are_pods_times_blocks_times_nodes_times_gpus() -> None:
    colossus1 = Cluster.model_validate(
        {"name": "colossus1", "gpu_model": "H100", "gpus_per_node": 8, "nodes_per_block": 1,
         "blocks_per_pod": 128, "pods": 195}
    )  # fmt: skip
    nvl72 = Cluster.model_validate(
        {"name": "nvl72", "gpu_model": "GB200", "gpus_per_node": 4, "nodes_per_block": 18,
         "blocks_per_pod": 64, "pods": 16}
    )  # fmt: skip
    assert colossus1.installed_gpus == 199_680
    assert nvl72.installed_gpus == 73_728
    assert capacity_by_period([colossus1, nvl72], WEEKS, 0.0) == {
        "GB200": [73_728] * 6,
        "H100": [199_680] * 6,
    }


@pytest.mark.parametrize(
    ("fraction", "installed", "capacity"),
    [
        (0.03, 100_000, 97_000),
        (0.07, 1_000, 930),  # (1 - 0.07) * 1000 is 929.999… in binary floating point
        (0.34, 100_000, 66_000),  # 65999.99… in floating point
        (0.55, 100_000, 45_000),  # 44999.99… in floating point
        (0.03, 3_072, 2_979),  # 2979.84 rounds down
        (0.03, 2_304, 2_234),  # 2234.88 rounds down
        (0.0, 12_345, 12_345),
        (0.999999, 100_000, 0),  # 0.1 GPU left: floor is 0
        (0.5, 1, 0),
    ],
)
def test_capacity_is_the_exact_decimal_floor_of_the_usable_share(
    fraction: float, installed: int, capacity: int
) -> None:
    series = capacity_by_period([cluster("c", installed)], WEEKS, fraction)
    assert series == {"H100": [capacity] * WEEKS.periods}


def test_cluster_online_mid_period_counts_from_the_next_period_start() -> None:
    # 2027-01-13 is a Wednesday in period 1 (2027-01-11 .. 2027-01-18).
    series = capacity_by_period([cluster("c", 100, online_from="2027-01-13")], WEEKS, 0.0)
    assert series == {"H100": [0, 0, 100, 100, 100, 100]}


def test_cluster_online_one_second_after_a_period_start_misses_that_period() -> None:
    late = cluster("c", 100, online_from="2027-01-11T00:00:01Z")
    assert capacity_by_period([late], WEEKS, 0.0) == {"H100": [0, 0, 100, 100, 100, 100]}


def test_cluster_online_exactly_at_a_period_start_counts_from_that_period() -> None:
    series = capacity_by_period([cluster("c", 100, online_from="2027-01-11")], WEEKS, 0.0)
    assert series == {"H100": [0, 100, 100, 100, 100, 100]}


def test_online_from_with_a_zone_is_compared_in_utc() -> None:
    # 00:30 at +01:00 on 2027-01-11 is 23:30 UTC on 2027-01-10: before period 1 starts.
    early = cluster("c", 100, online_from="2027-01-11T00:30:00+01:00")
    assert early.online_from == at("2027-01-10T23:30:00+00:00")
    assert capacity_by_period([early], WEEKS, 0.0) == {"H100": [0, 100, 100, 100, 100, 100]}


def test_cluster_online_before_the_horizon_counts_from_period_zero() -> None:
    series = capacity_by_period([cluster("c", 100, online_from="2026-06-01")], WEEKS, 0.0)
    assert series == {"H100": [100] * 6}


def test_cluster_online_after_the_horizon_adds_nothing() -> None:
    series = capacity_by_period([cluster("c", 100, online_from="2028-01-01")], WEEKS, 0.0)
    assert series == {"H100": [0] * 6}


def test_offline_from_removes_capacity_from_the_first_period_starting_on_or_after_it() -> None:
    mid = cluster("mid", 100, offline_from="2027-01-20")  # Wednesday of period 2
    on_start = cluster("on", 100, offline_from="2027-01-25", model="GB200")  # period 3 starts
    series = capacity_by_period([mid, on_start], WEEKS, 0.0)
    assert series == {"H100": [100, 100, 100, 0, 0, 0], "GB200": [100, 100, 100, 0, 0, 0]}


def test_offline_from_one_second_after_a_period_start_keeps_that_period() -> None:
    retiring = cluster("c", 100, offline_from="2027-01-25T00:00:01Z")
    assert capacity_by_period([retiring], WEEKS, 0.0) == {"H100": [100, 100, 100, 100, 0, 0]}


def test_cluster_online_and_offline_counts_only_in_between() -> None:
    window = cluster("c", 100, online_from="2027-01-12", offline_from="2027-02-01")
    assert capacity_by_period([window], WEEKS, 0.0) == {"H100": [0, 0, 100, 100, 0, 0]}


def test_daily_periods_use_days() -> None:
    c = cluster("c", 10, online_from="2027-01-06T12:00:00Z", offline_from="2027-01-09")
    assert capacity_by_period([c], DAYS, 0.0) == {"H100": [0, 0, 0, 10, 10, 0, 0, 0, 0, 0]}


def test_clusters_of_one_model_add_up_before_the_floor() -> None:
    clusters = [
        cluster("a", 1_000),
        cluster("b", 500, online_from="2027-01-18"),
        cluster("c", 50, offline_from="2027-01-25"),
        cluster("g", 300, model="GB200"),
    ]
    series = capacity_by_period(clusters, WEEKS, 0.03)
    # H100: floor(0.97 × 1050) = 1018, floor(0.97 × 1550) = 1503, floor(0.97 × 1500) = 1455.
    assert series == {
        "H100": [1_018, 1_018, 1_503, 1_455, 1_455, 1_455],
        "GB200": [291] * 6,
    }


def test_installed_gpus_are_summed_before_the_floor_is_taken() -> None:
    # 0.97 × 3 = 2.91 per cluster (floor 2 each, 4 in all) but 0.97 × 6 = 5.82, floor 5.
    series = capacity_by_period([cluster("a", 3), cluster("b", 3)], WEEKS, 0.03)
    assert series == {"H100": [5] * 6}


def test_no_clusters_means_no_models() -> None:
    assert capacity_by_period([], WEEKS, 0.03) == {}
    assert capacity_steps([], WEEKS, 0.03) == []


def test_steps_only_where_capacity_changes() -> None:
    clusters = [
        cluster("a", 1_000),
        cluster("b", 500, online_from="2027-01-18"),  # period 2
        cluster("c", 50, offline_from="2027-01-25"),  # period 3
        cluster("g", 300, model="GB200", online_from="2027-02-01"),  # period 4
    ]
    assert capacity_steps(clusters, WEEKS, 0.03) == [
        CapacityStep(0, at("2027-01-04T00:00:00+00:00"), "GB200", 0),
        CapacityStep(0, at("2027-01-04T00:00:00+00:00"), "H100", 1_018),
        CapacityStep(2, at("2027-01-18T00:00:00+00:00"), "H100", 1_503),
        CapacityStep(3, at("2027-01-25T00:00:00+00:00"), "H100", 1_455),
        CapacityStep(4, at("2027-02-01T00:00:00+00:00"), "GB200", 291),
    ]


def test_a_swap_of_equal_clusters_is_not_a_step() -> None:
    old = cluster("old", 100, offline_from="2027-01-18")
    new = cluster("new", 100, online_from="2027-01-18")
    assert capacity_steps([old, new], WEEKS, 0.0) == [CapacityStep(0, WEEKS.start, "H100", 100)]


def test_a_change_the_floor_hides_is_not_a_step() -> None:
    # With 0.6 unavailable: 0.4 × 2 = 0.8 → 0 and 0.4 × 3 = 1.2 → 1, a step; but
    # 0.4 × 1 = 0.4 → 0 and 0.4 × 2 = 0.8 → 0: a GPU came online and capacity did not change.
    clusters = [cluster("a", 2), cluster("b", 1, online_from="2027-01-11")]
    assert capacity_by_period(clusters, WEEKS, 0.6) == {"H100": [0, 1, 1, 1, 1, 1]}
    clusters = [cluster("a", 1), cluster("b", 1, online_from="2027-01-11")]
    assert capacity_by_period(clusters, WEEKS, 0.6) == {"H100": [0] * 6}
    assert capacity_steps(clusters, WEEKS, 0.6) == [CapacityStep(0, WEEKS.start, "H100", 0)]


def test_steps_agree_with_the_series() -> None:
    clusters = [
        cluster("a", 700, online_from="2027-01-09", offline_from="2027-02-03"),
        cluster("b", 400, model="B200", online_from="2027-01-20"),
    ]
    series = capacity_by_period(clusters, WEEKS, 0.1)
    steps = capacity_steps(clusters, WEEKS, 0.1)
    for model, values in series.items():
        rebuilt = []
        own = [s for s in steps if s.gpu_model == model]
        for t in range(WEEKS.periods):
            rebuilt.append([s.capacity for s in own if s.first_period <= t][-1])
        assert rebuilt == values
    assert all(s.start == WEEKS.period_start(s.first_period) for s in steps)


# --- properties ----------------------------------------------------------------------------

fractions = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)
sizes = st.integers(min_value=1, max_value=100_000)


@given(
    sizes=st.lists(sizes, min_size=1, max_size=4),
    fraction_a=fractions,
    fraction_b=fractions,
)
def test_capacity_never_exceeds_installed_and_falls_as_unavailability_rises(
    sizes: list[int], fraction_a: float, fraction_b: float
) -> None:
    low, high = sorted((fraction_a, fraction_b))
    clusters = [cluster(f"c{k}", gpus) for k, gpus in enumerate(sizes)]
    installed = sum(sizes)
    [more] = capacity_by_period(clusters, WEEKS, low).values()
    [less] = capacity_by_period(clusters, WEEKS, high).values()
    for with_low, with_high in zip(more, less, strict=True):
        assert 0 <= with_high <= with_low <= installed
    # and it is exactly the floor of the decimal the fraction was written as
    exact = math.floor((1 - Fraction(repr(low))) * installed)
    assert more == [exact] * WEEKS.periods
