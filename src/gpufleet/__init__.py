"""gpufleet: a control plane for a large GPU fleet.

Rent capacity out, plan the internal roadmap against it, place, bill and serve — one system.
"""

__version__ = "0.1.0"
