"""`Placer`: place a request on concrete nodes over its window, or say why not."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from gpufleet.domain.errors import Conflict, InvalidInput
from gpufleet.domain.fleet import NodeState
from gpufleet.placement.bookings import STATES, Bookings, Hold
from gpufleet.placement.calendar import DoubleBooking
from gpufleet.placement.model import (
    Assignment,
    Delivery,
    HoldKind,
    Placement,
    Refusal,
    RefusalReason,
    Request,
    SpareUse,
)
from gpufleet.placement.select import whole_nodes
from gpufleet.placement.topology import ModelSpan, Topology
from gpufleet.placement.views import View

Pick = tuple[int, int, int, int, int]  # node, GPU mask, GPUs of the promise, start, end


class Placer:
    """Places leases and jobs on a fleet and keeps them there. Not thread-safe: one writer.

    placer = Placer(Topology(clusters), spare_share=0.02, clock=seconds(now))
    placer.place(Request.lease("lease-1", tenant=7, terms=terms))  # Placement | Refusal
    placer.advance(seconds(later))   # retires what is over; returns holders that ended
    placer.release("lease-1", at=seconds(later))
    """

    def __init__(self, topology: Topology, *, spare_share: float = 0.0, clock: int = 0) -> None:
        self.bookings = Bookings(topology, spare_share, clock)
        self.topology = topology
        self.exact_views = 0  # how often the fast index was not enough (for benchmarks)
        self.spare_views = 0  # how often a firm lease was tried on the spares (ADR 0011)

    @property
    def clock(self) -> int:
        return self.bookings.clock

    def advance(self, to: int) -> list[str]:
        """Moves the clock to `to`; returns the holders whose holds ended by then."""
        return self.bookings.advance(to)

    def place(self, request: Request, *, spares: SpareUse = SpareUse.SHAPE) -> Placement | Refusal:
        """Nodes for `request` over [start, end), committed at once, or the reason why not.
        `spares`: when a firm lease that fits no other way may take spare blocks (ADR 0011):
        by default only when its shape needs them (a contiguous lease larger than any pod's
        ordinary blocks, a lease larger than the model's ordinary nodes); LAST_RESORT for a
        contract signed already; NEVER for a caller with another resort to try first."""
        b = self.bookings
        if request.holder in b.holds:
            raise Conflict(f"{request.holder!r} is already placed")
        if request.start < b.clock:
            raise InvalidInput(
                f"request {request.holder!r} starts at {request.start}, before the placement "
                f"clock ({b.clock}); place it from now on"
            )
        span = self.topology.model(request.gpu_model)
        if span is None:
            text = f"the fleet has no {request.gpu_model} GPUs"
            return Refusal(request.holder, RefusalReason.UNKNOWN_MODEL, text, request.gpus, 0)
        exact = b.fast_is_exact(span, request.start)
        view = b.view(span, request.tenant, request.start, request.end, exact=False)
        picks = choose(view, request)
        if picks is None and not exact:
            self.exact_views += 1
            view = b.view(span, request.tenant, request.start, request.end, exact=True)
            picks = choose(view, request)
        taken: tuple[int, ...] = ()
        if picks is None and self._may_take_spares(span, request, spares):
            picks, taken = self._with_spares(span, request, view)
        if picks is None:
            return refusal(view, request)
        hold = b.open_hold(request, span)
        b.book(hold, picks)
        nodes, masks, gpus, _, _ = zip(*picks, strict=True)
        return Placement(request.holder, request.start, request.end, nodes, gpus, masks, taken)

    def _may_take_spares(self, span: ModelSpan, request: Request, spares: SpareUse) -> bool:
        if spares == SpareUse.NEVER or not takes_spares(request):
            return False
        return spares == SpareUse.LAST_RESORT or self.bookings.shape_needs_spares(span, request)

    def _with_spares(
        self, span: ModelSpan, request: Request, exact: View
    ) -> tuple[list[Pick] | None, tuple[int, ...]]:
        """Picks for a firm lease that fits only with the pods' spare blocks counted as
        ordinary ones (ADR 0011), and the spare blocks they use; (None, ()) when even that
        fails. `exact`: the exact view without spares, which bounds what spares can add."""
        b = self.bookings
        if exact.free_gpus() + b.spare_gpus_up(span) < request.gpus:
            return None, ()  # not even every spare would be enough: skip the wide view
        self.spare_views += 1
        view = b.view_with_spares(span, request.tenant, request.start, request.end)
        picks = choose(view, request)
        if picks is None:
            return None, ()
        node_block, spare = self.topology.node_block, b.spare_block
        used = {int(node_block[p[0]]) for p in picks}
        return picks, tuple(sorted(block for block in used if spare[block]))

    def restore(
        self,
        request: Request,
        assignments: tuple[Assignment, ...],
        shortfalls: tuple[tuple[int, int, int], ...] = (),
    ) -> None:
        """Loads a hold placed earlier (from the database, say) exactly as it was: its
        assignments and its (start, end, GPUs) shortfalls. Raises DoubleBooking if any GPU is
        already held then, and InvalidInput if an assignment does not fit the request."""
        span = self.topology.model(request.gpu_model)
        b = self.bookings
        if request.holder in b.holds:
            raise Conflict(f"{request.holder!r} is already placed")
        if span is None:
            raise InvalidInput(f"{request.holder!r}: the fleet has no {request.gpu_model} GPUs")
        for a in assignments:
            if not 0 <= a.node < self.topology.nodes or self.topology.model_of_node(a.node) != span:
                raise InvalidInput(f"{request.holder!r}: node {a.node} has no {request.gpu_model}")
            if not request.start <= a.start < a.end <= request.end:
                raise InvalidInput(f"{request.holder!r}: assignment outside the request window")
        picks = [(a.node, a.gpu_mask, a.gpus, a.start, a.end) for a in assignments]
        hold = b.open_hold(request, span)
        try:
            b.book(hold, [p for p in picks if p[4] > b.clock])
        except DoubleBooking:
            b.forget(hold)
            raise
        b.keep_past(hold, [p for p in picks if p[4] <= b.clock])
        hold.shortfalls += shortfalls

    def release(self, holder: str, at: int) -> None:
        """Ends a hold early at `at` (≥ the clock): its nodes are free from then on."""
        if at < self.clock:
            raise InvalidInput(f"cannot release {holder!r} at {at}, before the clock")
        hold = self.bookings.hold(holder)
        self.bookings.end_hold(hold, at)

    def remove(self, holder: str) -> None:
        """Forgets a hold entirely, past and future, as if it had never been placed: its GPUs
        are free at once. For reloading a hold another process changed (`restore` it again
        as stored); a lease that ends early is `release`d instead."""
        self.bookings.remove_hold(self.bookings.hold(holder))

    def hold(self, holder: str) -> Hold:
        return self.bookings.hold(holder)

    def holders(self) -> Iterator[str]:
        return iter(self.bookings.holds)

    def assignments(self, holder: str) -> tuple[Assignment, ...]:
        """Every node the hold had or has, with its window (past ones too)."""
        return self.bookings.hold(holder).assignments()

    def delivery(self, holder: str) -> Delivery:
        return self.bookings.hold(holder).delivery()

    def node_state(self, node: int) -> NodeState:
        return STATES[int(self.bookings.state[node])]


def takes_spares(request: Request) -> bool:
    """Signed contracts come before the spare policy: a firm external lease may take spare
    blocks when it fits no other way; the lab's jobs and interruptible leases never do."""
    return request.kind == HoldKind.LEASE and not request.interruptible


def choose(view: View, request: Request) -> list[Pick] | None:
    """The nodes and GPUs the rules and best fit give `request` in `view`, or None."""
    span = view.span
    gpn, gpus, s, e = span.gpus_per_node, request.gpus, request.start, request.end
    if request.kind == HoldKind.EXPERIMENT and gpus <= gpn:
        shared = view.shared_node(gpus)
        if shared is not None:
            node, free = shared
            return [(node, lowest_bits(free, gpus), gpus, s, e)]
        nodes = whole_nodes(view, 1, False)
        return None if nodes is None else [(nodes[0], (1 << gpus) - 1, gpus, s, e)]
    nodes = whole_nodes(view, -(-gpus // gpn), request.contiguous)
    if nodes is None:
        return None
    picks: list[Pick] = []
    left = gpus
    for node in nodes:
        share = min(gpn, left)
        left -= share
        partial = request.kind == HoldKind.EXPERIMENT and share < gpn
        picks.append((node, (1 << share) - 1 if partial else span.full_mask, share, s, e))
    return picks


def refusal(view: View, request: Request) -> Refusal:
    """Names why `view` (exact for the window) cannot take `request`."""
    span: ModelSpan = view.span
    free = view.free_gpus()
    model, asked = span.name, request.gpus
    if free < asked:
        reason = RefusalReason.NOT_ENOUGH_CAPACITY
        text = f"{asked} {model} GPUs asked but only {free} are free over the window"
    elif request.contiguous and choose(view, dataclasses.replace(request, contiguous=False)):
        reason = RefusalReason.NO_CONTIGUOUS_POD
        text = (f"{free} {model} GPUs are free over the window but no single pod holds "
                f"{asked} of them in whole blocks free of other tenants")  # fmt: skip
    else:
        reason = RefusalReason.FRAGMENTED
        text = (f"{free} {model} GPUs are free over the window but not as the whole nodes "
                f"and blocks, free of other tenants, that the rules need for {asked}")  # fmt: skip
    return Refusal(request.holder, reason, text, asked, free)


def lowest_bits(mask: int, count: int) -> int:
    """The `count` lowest set bits of `mask`."""
    taken = 0
    while count:
        low = mask & -mask
        taken |= low
        mask ^= low
        count -= 1
    return taken
