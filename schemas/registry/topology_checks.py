"""What is wrong in a registry's topology: unknown names, wrong kinds, cycles, collisions."""

from __future__ import annotations

from collections.abc import Iterator

from schemas.located_yaml import Key
from schemas.registry.claims import Claim, overlapping_claims
from schemas.registry.models import EnterpriseKind, Registry
from schemas.registry.topology import CARRIERS, PARENT_KINDS, NodeKind, Snapshot, TopologyNode

__all__ = ["topology_problems"]


def topology_problems(registry: Registry) -> list[tuple[Key, str]]:
    """Each problem once, at the node version it is written in."""
    at: dict[int, Key] = {id(node): ("topology", i) for i, node in enumerate(registry.topology)}
    found = [
        *_unknown_names(registry),
        *_overlapping_periods(registry),
        *(
            problem
            for snapshot in registry.network.snapshots
            for problem in _graph_problems(snapshot, registry, at)
        ),
    ]
    # A problem lasting several spans of time is found in each: say it once.
    return list(dict.fromkeys(found))


def _unknown_names(registry: Registry) -> Iterator[tuple[Key, str]]:
    for i, node in enumerate(registry.topology):
        owner = registry.enterprise(node.owner)
        if owner is None:
            yield ("topology", i, "owner"), f"unknown enterprise {node.owner!r}"
        elif owner.kind is not EnterpriseKind.TELECOM:
            yield ("topology", i, "owner"), f"{node.owner} is not a telecom operator"
        if registry.district(node.district) is None:
            yield ("topology", i, "district"), f"unknown district {node.district!r}"
        if owner is not None:
            yield from _carried_by_others(registry, node, ("topology", i, "carries"))


def _carried_by_others(
    registry: Registry, node: TopologyNode, at: Key
) -> Iterator[tuple[Key, str]]:
    if node.kind not in CARRIERS:
        if node.carries.ids or node.carries.prefixes:
            yield (
                at,
                f"a {node.kind} carries no lines or cells: hang them from a cable or controller",
            )
        return
    # A cable carries lines, a controller its cells (capacity resources of the registry).
    owner_of = (
        registry.owner_of_resource if node.kind is NodeKind.CONTROLLER else registry.owner_of_line
    )
    for where, _, value, _ in node.carries.claims(at, node.id):
        holder = owner_of(value)
        if holder is None or holder.id != node.owner:
            whose = "no one" if holder is None else holder.id
            yield where, f"{value!r} belongs to {whose}, not to the node's owner {node.owner}"


def _overlapping_periods(registry: Registry) -> Iterator[tuple[Key, str]]:
    # Two versions of one node at once would make its parent depend on file order.
    nodes = registry.topology
    for i, node in enumerate(nodes):
        for j, other in enumerate(nodes[:i]):
            if other.id == node.id and _overlap(node, other):
                yield ("topology", i, "id"), f"{node.id} is also in force in topology[{j}]"


def _overlap(one: TopologyNode, other: TopologyNode) -> bool:
    return (one.effective_until is None or other.effective_from is None
            or other.effective_from < one.effective_until) and (
        other.effective_until is None or one.effective_from is None
        or one.effective_from < other.effective_until
    )  # fmt: skip


def _graph_problems(
    snapshot: Snapshot, registry: Registry, at: dict[int, Key]
) -> Iterator[tuple[Key, str]]:
    claims: list[Claim] = []
    for node in snapshot.nodes.values():
        where = at[id(node)]
        yield from _parent_problems(snapshot, registry, node, where)
        claims += node.carries.claims((*where, "carries"), node.id)
        if (holder := snapshot.leaves.owner(node.id)) is not None:
            yield (*where, "id"), f"{node.id} is a node, yet {holder.id} carries it as a leaf"
    yield from _cycles(snapshot, at)
    yield from overlapping_claims(claims)


def _parent_problems(
    snapshot: Snapshot, registry: Registry, node: TopologyNode, where: Key
) -> Iterator[tuple[Key, str]]:
    allowed = PARENT_KINDS[node.kind]
    kinds = " or ".join(sorted(allowed))
    if node.parent is None:
        if node.kind in CARRIERS:
            yield (*where, "kind"), f"a {node.kind} hangs from an {kinds}: give it a parent"
        return
    parent = snapshot.nodes.get(node.parent)
    if parent is None:
        known = any(n.id == node.parent for n in registry.topology)
        when = "" if snapshot.start.year == 1 else f" from {snapshot.start.isoformat()}"
        reason = (
            f"parent {node.parent!r} is not in force{when}"
            if known
            else (f"unknown parent {node.parent!r}")
        )
        yield (*where, "parent"), reason
    elif parent.kind not in allowed:
        must = f"hangs from an {kinds}" if allowed else "is a root"
        yield (*where, "parent"), f"a {node.kind} {must}, not from the {parent.kind} {parent.id}"


def _cycles(snapshot: Snapshot, at: dict[int, Key]) -> Iterator[tuple[Key, str]]:
    seen: set[str] = set()
    for start in snapshot.nodes.values():
        trail: list[str] = []
        node: TopologyNode | None = start
        while node is not None and node.id not in seen and node.id not in trail:
            trail.append(node.id)
            node = snapshot.nodes.get(node.parent) if node.parent else None
        seen.update(trail)
        if node is not None and node.id in trail:
            cycle = trail[trail.index(node.id) :]
            yield (*at[id(node)], "parent"), "cycle: " + " → ".join([*cycle, node.id])
