"""The network's inventory graph: lines hang from cables, cables from exchanges, cells from
controllers; each node effective-dated, and its lookups indexed once at load."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AwareDatetime, Field, model_validator

from schemas.envelope import Identifier, InboundModel, ShortText, Slug
from schemas.registry.claims import Ownership, _OwnerIndex

__all__ = [
    "CARRIERS",
    "PARENT_KINDS",
    "Children",
    "NodeKind",
    "Topology",
    "TopologyNode",
]

# Before the first date any node names: the moment the first snapshot stands for.
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class NodeKind(StrEnum):
    """What a node of the network is (the leaves, lines, circuits and cells, are claimed ids)."""

    EXCHANGE = "exchange"
    NODE = "node"
    CABLE = "cable"
    TRUNK = "trunk"
    TRANSMISSION_LINK = "transmission_link"
    CONTROLLER = "controller"


# Which kinds a node may hang from; an empty set means it is a root. A node may also be a root.
PARENT_KINDS: dict[NodeKind, frozenset[NodeKind]] = {
    NodeKind.EXCHANGE: frozenset(),
    NodeKind.NODE: frozenset({NodeKind.EXCHANGE}),
    NodeKind.CABLE: frozenset({NodeKind.EXCHANGE, NodeKind.NODE}),
    NodeKind.TRUNK: frozenset({NodeKind.EXCHANGE, NodeKind.NODE}),
    NodeKind.TRANSMISSION_LINK: frozenset({NodeKind.EXCHANGE, NodeKind.NODE}),
    NodeKind.CONTROLLER: frozenset({NodeKind.EXCHANGE, NodeKind.NODE}),
}
ROOTS = frozenset({NodeKind.EXCHANGE, NodeKind.NODE})
# Lines and circuits hang from a cable, trunk or link; cells from their controller.
CARRIERS = frozenset(
    {NodeKind.CABLE, NodeKind.TRUNK, NodeKind.TRANSMISSION_LINK, NodeKind.CONTROLLER}
)


class TopologyNode(InboundModel):
    """One version of a node: what it is, whose, where, what it hangs from and what it carries."""

    id: Identifier
    kind: NodeKind
    name: ShortText | None = None
    district: Slug
    owner: Slug = Field(description="The operator whose network it is (an enterprise id).")
    parent: Identifier | None = None
    carries: Ownership = Field(
        default=Ownership(),
        description="Leaves by id prefix and explicit id: lines and circuits, or a controller's "
        "cells.",
    )
    effective_from: AwareDatetime | None = Field(default=None, description="Inclusive.")
    effective_until: AwareDatetime | None = Field(default=None, description="Exclusive.")

    @model_validator(mode="after")
    def _ends_after_start(self) -> TopologyNode:
        start, end = self.effective_from, self.effective_until
        if start is not None and end is not None and end <= start:
            raise ValueError("`effective_until` must be after `effective_from`")
        return self

    def in_force_at(self, at: datetime) -> bool:
        """Whether this version is the node at `at`."""
        start, end = self.effective_from, self.effective_until
        return (start is None or start <= at) and (end is None or at < end)


@dataclass(frozen=True)
class Children:
    """What hangs directly below a node: other nodes, and the leaves it claims."""

    nodes: tuple[TopologyNode, ...]
    carries: Ownership


class Snapshot:
    """The nodes in force over one span between the dates the nodes name, indexed."""

    def __init__(self, start: datetime, nodes: Iterable[TopologyNode]) -> None:
        self.start = start
        self.nodes = {node.id: node for node in nodes}
        self.below: dict[str, list[TopologyNode]] = {}
        for node in self.nodes.values():
            if node.parent is not None:
                self.below.setdefault(node.parent, []).append(node)
        self.leaves = _OwnerIndex((n, n.carries) for n in self.nodes.values())

    def parent_of(self, object_id: str) -> TopologyNode | None:
        """The node `object_id` hangs from: a node's parent, or the node claiming a leaf."""
        node = self.nodes.get(object_id)
        if node is None:
            return self.leaves.owner(object_id)
        return None if node.parent is None else self.nodes.get(node.parent)

    def chain(self, object_id: str) -> tuple[TopologyNode, ...]:
        """The nodes above `object_id`, nearest first, up to the root."""
        found: list[TopologyNode] = []
        parent = self.parent_of(object_id)
        # A registry that skipped the load's checks may hold a cycle: stop rather than spin.
        while parent is not None and parent not in found:
            found.append(parent)
            parent = self.parent_of(parent.id)
        return tuple(found)


class Topology:
    """Every version of every node, as one snapshot per span of time in which nothing changes."""

    def __init__(self, nodes: Iterable[TopologyNode]) -> None:
        versions = tuple(nodes)
        dates = {d for n in versions for d in (n.effective_from, n.effective_until) if d}
        self.boundaries = sorted(dates)
        self.snapshots = tuple(
            Snapshot(start, (n for n in versions if n.in_force_at(start)))
            for start in (_EARLIEST, *self.boundaries)
        )

    def at(self, moment: datetime) -> Snapshot:
        """The snapshot in force at `moment` (an aware datetime)."""
        return self.snapshots[bisect_right(self.boundaries, moment)]

    def node(self, node_id: str, at: datetime) -> TopologyNode | None:
        """The version of the node in force at `at`, or None."""
        return self.at(at).nodes.get(node_id)

    def parent_of(self, object_id: str, at: datetime) -> TopologyNode | None:
        """What a node, line, circuit or cell hangs from at `at`, or None."""
        return self.at(at).parent_of(object_id)

    def chain(self, object_id: str, at: datetime) -> tuple[TopologyNode, ...]:
        """The nodes above `object_id` at `at`, nearest first, ending at its root."""
        return self.at(at).chain(object_id)

    def path(self, object_id: str, at: datetime) -> tuple[str, ...]:
        """Ids from the root down to `object_id`; just `(object_id,)` when nothing holds it."""
        return (*(n.id for n in reversed(self.chain(object_id, at))), object_id)

    def children_of(self, node_id: str, at: datetime) -> Children:
        """What hangs directly below a node at `at` (nothing for an unknown node)."""
        snapshot = self.at(at)
        node = snapshot.nodes.get(node_id)
        carries = node.carries if node is not None else Ownership()
        return Children(tuple(snapshot.below.get(node_id, ())), carries)
