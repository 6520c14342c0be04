"""Reports of a plan: a self-contained `report.html` with PNG plots (see `html.py`)."""

from gpufleet.adapters.report.html import REPORT_NAME, write_report
from gpufleet.adapters.report.plots import (
    bid_price_plot,
    capacity_plot,
    frontier_plot,
    work_plot,
)

__all__ = [
    "REPORT_NAME",
    "bid_price_plot",
    "capacity_plot",
    "frontier_plot",
    "work_plot",
    "write_report",
]
