"""Which nodes are online when: clusters come online (`online_from`) and retire
(`offline_from`); offline nodes neither fail nor count in utilisation."""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet.operations.simulator import Online
from gpufleet.placement import Topology, seconds
from gpufleet.planning.scenario.model import Cluster


def online_windows(topology: Topology, clusters: Sequence[Cluster]) -> list[Online]:
    windows = []
    for c in clusters:
        first = topology.find_node(c.name, 0, 0, 0)
        since = seconds(c.online_from) if c.online_from is not None else None
        until = seconds(c.offline_from) if c.offline_from is not None else None
        windows.append(Online(first, first + c.nodes, since, until))
    return windows


def busiest_model(topology: Topology, clusters: Sequence[Cluster], at: int) -> str:
    """The GPU model with the most GPUs online at `at`: where the lab's experiments run by
    default (the Philly jobs ran on one kind of GPU server)."""
    online: dict[str, int] = {}
    for c, window in zip(clusters, online_windows(topology, clusters), strict=True):
        if window.at(at):
            online[c.gpu_model] = online.get(c.gpu_model, 0) + c.nodes * c.gpus_per_node
    if not online:
        return topology.models[0].name
    return max(online, key=lambda m: online[m])
