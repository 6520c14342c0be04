"""Best fit up the topology tree, over either view of free capacity.

A whole-node request of n nodes in blocks of B takes ⌊n/B⌋ whole empty blocks and its
remaining n mod B nodes inside one more block: as few blocks as possible, never a sliver in
each of several. The remainder goes to the block with the fewest free nodes that still fit
(one the tenant already uses, if any); whole blocks come from the pod with the fewest empty
blocks that still holds them all, else from the fullest pods first. Large free blocks and
pods thus stay whole for the requests that need them. `contiguous` asks for one pod.
"""

from __future__ import annotations

import numpy as np

from gpufleet.placement.views import View


def whole_nodes(view: View, nodes: int, contiguous: bool) -> list[int] | None:
    """Nodes for a whole-node request, or None when no choice keeps the rules."""
    span = view.span
    full, rest = divmod(nodes, span.nodes_per_block)
    empties = view.pod_empties()
    if contiguous:
        return _in_one_pod(view, empties, full, rest)
    rest_block = view.partial_block(rest, None) if rest else None
    need = full + (1 if rest and rest_block is None else 0)
    if int(empties.sum()) < need:
        return None
    blocks = _empty_blocks(view, empties, need)
    if rest and rest_block is None:
        rest_block = blocks.pop()
    return _take(view, blocks, rest_block, rest)


def _in_one_pod(view: View, empties: np.ndarray, full: int, rest: int) -> list[int] | None:
    span = view.span
    fits = np.flatnonzero(empties >= full)
    for i in fits[np.argsort(empties[fits], kind="stable")].tolist():
        pod = span.pod_lo + i
        rest_block = view.partial_block(rest, pod) if rest else None
        extra = 1 if rest and rest_block is None else 0
        if empties[i] < full + extra:
            continue
        blocks = view.empty_blocks(pod, full + extra)
        if extra:
            rest_block = blocks.pop()
        return _take(view, blocks, rest_block, rest)
    return None


def _empty_blocks(view: View, empties: np.ndarray, need: int) -> list[int]:
    pod_lo = view.span.pod_lo
    if need == 0:
        return []
    fits = np.flatnonzero(empties >= need)
    if fits.size:
        best = int(fits[np.argmin(empties[fits])])
        return view.empty_blocks(pod_lo + best, need)
    chosen: list[int] = []
    for i in np.argsort(empties, kind="stable").tolist():
        have = int(empties[i])
        if have == 0:
            continue
        chosen += view.empty_blocks(pod_lo + i, min(have, need - len(chosen)))
        if len(chosen) == need:
            break
    return chosen


def _take(view: View, blocks: list[int], rest_block: int | None, rest: int) -> list[int]:
    per_block = view.span.nodes_per_block
    nodes: list[int] = []
    for block in blocks:
        nodes += view.free_nodes(block, per_block)
    if rest_block is not None:
        nodes += view.free_nodes(rest_block, rest)
    return nodes
