"""Topology-aware placement of leases and jobs on concrete nodes over time.

Pure Python and numpy, in memory, no database inside: a service loads the fleet and the
holds, calls the engine, and writes what it returns in one transaction.

    topology = Topology(scenario.clusters)
    placer = Placer(topology, spare_share=0.02, clock=seconds(now))
    for lease in signed:                       # rebuild from the database
        placer.restore(lease.request, lease.assignments, lease.shortfalls)
    result = placer.place(Request.lease("lease-17", tenant=3, terms=terms))
    ended = placer.advance(seconds(later))     # holders whose holds ended
    outcome = fail_node(placer, node, at=seconds(later))  # replaced, notices, shortfalls

Rules every placement keeps (and the property tests check):

- no GPU is in two holds at overlapping times (the calendar refuses it);
- an external tenant gets whole nodes and never shares a node or a block (NVLink domain)
  with another tenant, at overlapping times;
- a request of n nodes in blocks of B takes ⌊n/B⌋ whole blocks and its other n mod B nodes
  inside one more block: a lease of at least one block gets whole blocks, a smaller one
  stays in one block; internal training jobs are gang-placed the same way, all or nothing;
- `contiguous` keeps every node of a hold in one pod;
- experiments (the lab's small jobs) may share a node with each other, never with anyone else;
- the last ⌈spare_share × blocks⌉ blocks of every pod are spares: they replace failed
  nodes of firm (not interruptible) holds, and a firm external lease that fits no other way
  may take them over its window (ADR 0011, `SpareUse`: by default only a lease whose shape
  no fleet could hold without them, such as a contiguous one of a whole pod;
  `Placement.spare_blocks` names them, and that pod has fewer spares until the lease ends).

`Placer.place(request)` works in numbered steps:

1. Check — the holder is new, the window starts at or after the clock, the model exists.
2. Snapshot — the incremental `FreeIndex` (exact when the window starts at the clock and no
   entry of the model starts later; safe otherwise).
3. Shape — n = ⌈gpus / GPUs per node⌉ whole nodes as ⌊n/B⌋ blocks + n mod B nodes; an
   experiment of at most one node first looks for a node that experiments already share.
4. Nominate — best fit up the tree: the pod with the fewest empty blocks that still fit
   (one pod when contiguous), the block with the fewest free nodes that still fit, nodes
   in order; large free blocks and pods stay whole.
5. Re-check — if the index found nothing and was not exact, `ExactView` computes exactly
   what is free over the window and step 4 runs again on it. For a window from the clock
   only blocks holding entries that start later are computed (vector operations over their
   nodes); for a later window, all of the model's.
5b. Spares — a firm lease that still has no nodes, and that `spares` lets take them, is
   tried once more in an exact view that counts spare blocks as ordinary ones (skipped when
   even every spare would not be enough); the lab's jobs and interruptible leases never are.
6. Commit — entries go into the node calendars, which refuse any double booking, and the
   index, expiry heaps and delivery ledger follow.
7. Refuse — otherwise a `Refusal` names the reason: not enough GPUs of the model free over
   the window; enough, but no single pod has them (contiguous); enough, but not as the
   whole nodes and blocks, free of other tenants, that the rules need (fragmented).

Ties between equally good blocks or nodes depend on the order in which they became free, so
two engines in the same state may choose different, equally good, nodes.

`fail_node` then keeps the promise when a node fails (spare in the pod, idle node, capacity
reclaimed from interruptible holds after their notice, or a recorded shortfall); see
`gpufleet.placement.failures`. `Placer.delivery(holder)` gives promised = delivered +
shortfall GPU-seconds for every hold.
"""

from gpufleet.placement.calendar import DoubleBooking
from gpufleet.placement.failures import fail_node, set_node_state
from gpufleet.placement.model import (
    HOUR,
    INTERNAL,
    Assignment,
    Delivery,
    FailureOutcome,
    HoldKind,
    Placement,
    PreemptionNotice,
    Refusal,
    RefusalReason,
    Replaced,
    ReplacementSource,
    Request,
    Shortfall,
    SpareUse,
    seconds,
)
from gpufleet.placement.placer import Placer
from gpufleet.placement.topology import ModelSpan, Topology

__all__ = [
    "HOUR",
    "INTERNAL",
    "Assignment",
    "Delivery",
    "DoubleBooking",
    "FailureOutcome",
    "HoldKind",
    "ModelSpan",
    "Placement",
    "Placer",
    "PreemptionNotice",
    "Refusal",
    "RefusalReason",
    "Replaced",
    "ReplacementSource",
    "Request",
    "Shortfall",
    "SpareUse",
    "Topology",
    "fail_node",
    "seconds",
    "set_node_state",
]
