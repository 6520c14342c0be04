"""The numbers behind colossus.yaml: fleet, leases, programs, the megadeal, the request mix."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .yaml_out import Price

D = dt.date.fromisoformat

H_START = D("2027-01-04")  # a Monday
PERIODS = 104
UNAVAILABLE = 0.03

GPU_MODELS = [
    ("H100", 1.0),
    ("H200", 1.3),
    ("GB200", 2.5),
    ("GB300", 3.2),
]

# name, model, gpus_per_node, nodes_per_block, blocks_per_pod, pods, online_from
CLUSTERS: list[tuple[str, str, int, int, int, int, dt.date | None]] = [
    # Colossus 1: HGX 8-GPU nodes; a node is its own NVLink domain, so one node per block;
    # 512 nodes (4,096 GPUs) per pod = one non-blocking network domain.
    ("colossus1-h100", "H100", 8, 1, 512, 37, None),  # 151,552 H100
    ("colossus1-h200", "H200", 8, 1, 512, 12, None),  # 49,152 H200
    # Colossus 2: NVL72 racks = 18 compute trays x 4 GPUs; the rack is the NVLink block.
    ("colossus2-gb200-a", "GB200", 4, 18, 64, 20, None),  # 92,160 GB200, 64-rack pods
    ("colossus2-gb200-b", "GB200", 4, 18, 64, 22, D("2027-03-01")),  # +101,376 GB200
    ("colossus2-gb300-a", "GB300", 4, 18, 128, 16, D("2027-06-07")),  # 147,456 GB300, 128-rack pods
    ("colossus2-gb300-b", "GB300", 4, 18, 128, 12, D("2027-11-01")),  # +110,592 GB300
    ("colossus2-gb300-c", "GB300", 4, 18, 128, 11, D("2028-04-03")),  # +101,376 GB300
]

FRONTIER_DUE = D("2027-10-04")
# $50M a day: more than the whole GB fleet earns rented out at market prices (~$35M a day at
# the median GB200/GB300 ask, printed by the script), so the lab keeps its own run on time
# unless a deal pays more than the run's lateness costs. At $15M a day the planner would
# rent most GB capacity out and let the run slip by months.
FRONTIER_DELAY = 50_000_000
FRONTIER_SLACK = 0.05  # the run fits by its due date with 5% of the GB capacity to spare

REASONING_START = D("2027-10-04")
REASONING_DUE = D("2028-06-05")
REASONING_DELAY = 4_000_000
REASONING_MAX = 150_000
REASONING_WORK = 1_600_000_000  # H100-hours; >= 20 weeks at max_gpus on GB300

RESEARCH_GPUS = 16_384

MEGADEAL_ID = "rfq-gb300-megadeal"
MEGADEAL_GPUS = 110_016  # 1,528 GB300 NVL72 racks
MEGADEAL_START = D("2027-07-05")
MEGADEAL_END = D("2030-07-05")  # three years
MEGADEAL_VALUE = 6.3e9

LEASES: list[dict[str, Any]] = [
    dict(
        id="lease-h100-meridian",
        customer="meridian-ai",
        gpu_model="H100",
        gpus=20_000,
        start=D("2027-01-04"),
        end=D("2028-01-03"),
        price_per_gpu_hour=Price(2.10),
        **{"class": "reserved"},
    ),
    dict(
        id="lease-h200-helix",
        customer="helix-labs",
        gpu_model="H200",
        gpus=8_192,
        start=D("2027-01-04"),
        end=D("2027-07-05"),
        price_per_gpu_hour=Price(2.65),
        **{"class": "reserved"},
        # Not contiguous: 8,192 H200 is two of Colossus's 4,096-GPU H200 pods, so a
        # one-pod promise could never be kept (placement would mark the lease unplaced).
    ),
    dict(
        id="lease-gb200-northwind",
        customer="northwind-ai",
        gpu_model="GB200",
        gpus=18_432,
        start=D("2027-03-01"),
        end=D("2028-02-28"),
        price_per_gpu_hour=Price(3.95),
        **{"class": "reserved"},
    ),
    dict(
        id="lease-h100-tidal-spot",
        customer="tidal-compute",
        gpu_model="H100",
        gpus=4_096,
        start=D("2027-02-01"),
        end=D("2027-08-02"),
        price_per_gpu_hour=Price(1.35),
        **{"class": "interruptible"},
        notice_hours=24,
    ),
    dict(
        id="lease-gb300-orbital",
        customer="orbital-ml",
        gpu_model="GB300",
        gpus=9_216,
        start=D("2027-12-06"),
        end=D("2028-12-04"),
        price_per_gpu_hour=Price(4.60),
        **{"class": "reserved"},
        contiguous=True,
    ),
]

# customer -> (weight, largest request in GPUs, typical window weights: short, medium, long)
CUSTOMERS: dict[str, tuple[float, int, tuple[float, float, float]]] = {
    "hyperscaler-a": (3.0, 49_152, (0.1, 0.3, 0.6)),
    "hyperscaler-b": (3.0, 40_960, (0.1, 0.3, 0.6)),
    "hyperscaler-c": (2.0, 32_768, (0.1, 0.4, 0.5)),
    "meridian-ai": (2.0, 24_576, (0.2, 0.4, 0.4)),
    "helix-labs": (2.0, 16_384, (0.3, 0.4, 0.3)),
    "northwind-ai": (2.0, 24_576, (0.2, 0.4, 0.4)),
    "orbital-ml": (1.5, 16_384, (0.3, 0.4, 0.3)),
    "tidal-compute": (2.0, 12_288, (0.5, 0.4, 0.1)),
    "quanta-research": (1.0, 8_192, (0.5, 0.4, 0.1)),
    "lumen-ai": (1.0, 8_192, (0.4, 0.4, 0.2)),
    "sable-robotics": (1.0, 6_144, (0.5, 0.4, 0.1)),
    "fjord-models": (1.0, 8_192, (0.4, 0.4, 0.2)),
    "cobalt-bio": (0.7, 4_096, (0.6, 0.3, 0.1)),
    "vector-forge": (1.0, 12_288, (0.4, 0.4, 0.2)),
    "aurora-gen": (1.0, 8_192, (0.5, 0.4, 0.1)),
    "kestrel-ai": (1.0, 16_384, (0.3, 0.4, 0.3)),
    "pinecrest-labs": (0.7, 4_096, (0.6, 0.3, 0.1)),
    "nimbus-cloud": (1.5, 24_576, (0.2, 0.4, 0.4)),
    "atlas-agents": (1.0, 8_192, (0.5, 0.4, 0.1)),
    "zephyr-video": (1.0, 12_288, (0.4, 0.4, 0.2)),
}

# model -> (weight, GPUs per unit, reserved price range USD/GPU-hour)
REQUEST_MODELS: dict[str, tuple[float, int, float, float]] = {
    "H100": (0.28, 8, 1.80, 2.80),
    "H200": (0.20, 8, 2.30, 3.30),
    "GB200": (0.27, 72, 3.00, 4.80),
    "GB300": (0.25, 72, 3.80, 6.00),
}
N_RANDOM_REQUESTS = 199  # + the megadeal = 200
WINDOW_WEEKS = {"short": [4, 6, 8, 13], "medium": [13, 26, 39, 52], "long": [52, 78, 104, 156]}
WINDOW_MONTHS = {"short": [1, 2, 3], "medium": [3, 6, 9, 12], "long": [12, 18, 24, 36]}
