"""The fleet as flat arrays: node → block (NVLink domain) → pod (network domain) → cluster.

Nodes are numbered so that every block's nodes, every pod's blocks and every GPU model's
pods are contiguous ranges: a model, a pod or a block is a slice, never a list. A million GPUs
(about 190,000 nodes) take a few megabytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.domain.errors import InvalidInput, NotFound
from gpufleet.domain.fleet import node_name
from gpufleet.planning.scenario.model import Cluster

I32 = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class ModelSpan:
    """The nodes, blocks and pods of one GPU model: [lo, hi) ranges of each."""

    index: int
    name: str
    gpus_per_node: int
    nodes_per_block: int
    node_lo: int
    node_hi: int
    block_lo: int
    block_hi: int
    pod_lo: int
    pod_hi: int

    @property
    def full_mask(self) -> int:
        return (1 << self.gpus_per_node) - 1

    @property
    def gpus(self) -> int:
        return (self.node_hi - self.node_lo) * self.gpus_per_node


@dataclass(frozen=True, slots=True)
class _ClusterSpan:
    spec: Cluster
    model: int
    pod_lo: int
    node_lo: int


class Topology:
    """Immutable shape of the fleet. Build it once from the scenario's clusters."""

    def __init__(self, clusters: Sequence[Cluster]) -> None:
        if len({c.name for c in clusters}) != len(clusters):
            raise InvalidInput("cluster names must be unique")
        order = list(dict.fromkeys(c.gpu_model for c in clusters))
        ordered = sorted(clusters, key=lambda c: order.index(c.gpu_model))
        spans: list[_ClusterSpan] = []
        pod_first_block = [0]
        block_first_node = [0]
        node_block: list[I32] = []
        block_pod: list[I32] = []
        pod_cluster: list[int] = []
        for c in ordered:
            first = self._shape_of(c, ordered)
            model = order.index(c.gpu_model)
            pod0, block0, node0 = len(pod_cluster), len(block_first_node) - 1, block_first_node[-1]
            spans.append(_ClusterSpan(c, model, pod0, node0))
            blocks = c.pods * c.blocks_per_pod
            pod_cluster.extend([len(spans) - 1] * c.pods)
            pod_first_block.extend(block0 + c.blocks_per_pod * np.arange(1, c.pods + 1))
            block_first_node.extend(node0 + c.nodes_per_block * np.arange(1, blocks + 1))
            block_pod.append((pod0 + np.arange(blocks) // c.blocks_per_pod).astype(np.int32))
            node_block.append(
                np.repeat(np.arange(block0, block0 + blocks, dtype=np.int32), first.nodes_per_block)
            )
        self._clusters = spans
        self.pod_first_block: I32 = np.array(pod_first_block, dtype=np.int32)
        self.block_first_node: I32 = np.array(block_first_node, dtype=np.int32)
        none = np.zeros(0, dtype=np.int32)
        self.node_block: I32 = np.concatenate(node_block or [none]).astype(np.int32)
        self.block_pod: I32 = np.concatenate(block_pod or [none]).astype(np.int32)
        self.pod_cluster: I32 = np.array(pod_cluster, dtype=np.int32)
        self.models: list[ModelSpan] = [self._model_span(i, name) for i, name in enumerate(order)]
        self.model_index = {m.name: m.index for m in self.models}
        self.pod_model: I32 = np.array([spans[c].model for c in pod_cluster], dtype=np.int32)

    @staticmethod
    def _shape_of(c: Cluster, clusters: Sequence[Cluster]) -> Cluster:
        first = next(o for o in clusters if o.gpu_model == c.gpu_model)
        if (first.gpus_per_node, first.nodes_per_block) != (c.gpus_per_node, c.nodes_per_block):
            raise InvalidInput(
                f"clusters {first.name!r} and {c.name!r} have the same GPU model "
                f"{c.gpu_model!r} in different node or block shapes"
            )
        return first

    def _model_span(self, index: int, name: str) -> ModelSpan:
        mine = [s for s in self._clusters if s.model == index]
        first, last = mine[0], mine[-1]
        pod_lo, pod_hi = first.pod_lo, last.pod_lo + last.spec.pods
        block_lo, block_hi = int(self.pod_first_block[pod_lo]), int(self.pod_first_block[pod_hi])
        return ModelSpan(
            index=index,
            name=name,
            gpus_per_node=first.spec.gpus_per_node,
            nodes_per_block=first.spec.nodes_per_block,
            node_lo=int(self.block_first_node[block_lo]),
            node_hi=int(self.block_first_node[block_hi]),
            block_lo=block_lo,
            block_hi=block_hi,
            pod_lo=pod_lo,
            pod_hi=pod_hi,
        )

    @property
    def nodes(self) -> int:
        return len(self.node_block)

    @property
    def blocks(self) -> int:
        return len(self.block_pod)

    @property
    def pods(self) -> int:
        return len(self.pod_cluster)

    @property
    def gpus(self) -> int:
        return sum(m.gpus for m in self.models)

    def model(self, name: str) -> ModelSpan | None:
        index = self.model_index.get(name)
        return None if index is None else self.models[index]

    def model_of_node(self, node: int) -> ModelSpan:
        return self.models[int(self.pod_model[self.pod_of(node)])]

    def block_of(self, node: int) -> int:
        return int(self.node_block[node])

    def pod_of(self, node: int) -> int:
        return int(self.block_pod[self.node_block[node]])

    def block_nodes(self, block: int) -> range:
        return range(int(self.block_first_node[block]), int(self.block_first_node[block + 1]))

    def pod_blocks(self, pod: int) -> range:
        return range(int(self.pod_first_block[pod]), int(self.pod_first_block[pod + 1]))

    def pod_nodes(self, pod: int) -> range:
        blocks = self.pod_blocks(pod)
        return range(
            int(self.block_first_node[blocks.start]), int(self.block_first_node[blocks.stop])
        )

    def locate(self, node: int) -> tuple[str, int, int, int]:
        """(cluster name, pod in cluster, block in pod, node in block) of a node."""
        if not 0 <= node < self.nodes:
            raise NotFound.of("node", node)
        pod = self.pod_of(node)
        span = self._clusters[int(self.pod_cluster[pod])]
        block = self.block_of(node)
        return (
            span.spec.name,
            pod - span.pod_lo,
            block - int(self.pod_first_block[pod]),
            node - int(self.block_first_node[block]),
        )

    def node_name(self, node: int) -> str:
        """The node's name in the fleet tables (`gpufleet.domain.fleet.node_name`)."""
        return node_name(*self.locate(node))

    def find_node(self, cluster: str, pod: int, block: int, index: int) -> int:
        """The node number of a (cluster, pod, block, node) position; NotFound if none."""
        for span in self._clusters:
            c = span.spec
            inside = 0 <= pod < c.pods and 0 <= block < c.blocks_per_pod
            if c.name == cluster and inside and 0 <= index < c.nodes_per_block:
                first = int(self.pod_first_block[span.pod_lo + pod]) + block
                return int(self.block_first_node[first]) + index
        raise NotFound.of("node", f"{cluster}/{pod}/{block}/{index}")
