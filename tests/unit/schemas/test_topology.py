"""The registry's topology: the reference graph, its lookups in time, and located load errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import RegistryError
from schemas.registry import Registry, load_registry
from schemas.registry.topology import NodeKind, Topology, TopologyNode
from services.simulator.election_2007 import LOCAL, drafts
from tests.support.registry_copies import edit, reference_copy

pytestmark = pytest.mark.unit

SEEDS = (2007, 1, 42)
ROOTS = {NodeKind.EXCHANGE, NodeKind.NODE}
ELECTION_DAY = datetime(2007, 5, 20, 9, tzinfo=LOCAL)
HOTLINES_FROM = datetime(2007, 5, 1, tzinfo=LOCAL)
HOTLINES_UNTIL = datetime(2007, 6, 1, tzinfo=LOCAL)
TINY = timedelta(microseconds=1)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_the_reference_topology_loads(registry: Registry) -> None:
    exchanges = [n for n in registry.topology if n.kind is NodeKind.EXCHANGE]
    assert {n.district for n in exchanges} == {d.id for d in registry.districts}
    assert registry.network.node("VTL-NET-HOIAN-BSC1", ELECTION_DAY) is not None


@pytest.mark.parametrize("seed", SEEDS)
def test_every_line_and_cell_of_the_scenario_hangs_from_a_root(
    registry: Registry, seed: int
) -> None:
    objects = {
        (d.fields["alarmed_object.id"], d.fields["operator"], d.sent_at)
        for d in drafts(registry, seed)
        if d.kind == "line_fault" or d.fields.get("alarmed_object.type") == "cell"
    }
    assert len(objects) > 1000
    for object_id, operator, at in objects:
        chain = registry.network.chain(object_id, at)
        assert chain, object_id
        assert chain[-1].kind in ROOTS, object_id
        assert {n.owner for n in chain} == {operator}, object_id


@pytest.mark.parametrize("seed", SEEDS)
def test_the_19_may_cut_lines_all_hang_from_one_cable(registry: Registry, seed: int) -> None:
    storm = [d for d in drafts(registry, seed) if d.part == "storm"]
    cables = {registry.network.parent_of(d.fields["alarmed_object.id"], d.sent_at) for d in storm}
    assert len({d.fields["alarmed_object.id"] for d in storm}) == 93
    (cable,) = cables
    assert cable is not None
    assert cable.kind is NodeKind.CABLE
    assert cable.id == f"CAP-{storm[0].fields['district'].upper()}-01"


def test_lookups_path_and_children(registry: Registry) -> None:
    network = registry.network
    line = "VNPT-TAM-KY-0170"
    assert network.path(line, ELECTION_DAY) == ("TD-TAM-KY", "CAP-TAM-KY-02", line)
    assert network.path("CAP-TAM-KY-02", ELECTION_DAY) == ("TD-TAM-KY", "CAP-TAM-KY-02")
    assert network.path("NOWHERE-1", ELECTION_DAY) == ("NOWHERE-1",)
    assert network.parent_of("TD-TAM-KY", ELECTION_DAY) is None
    children = network.children_of("TD-TAM-KY", ELECTION_DAY)
    assert {n.id for n in children.nodes} == {
        "CAP-TAM-KY-01", "CAP-TAM-KY-02", "CAP-TAM-KY-03", "VNPT-NET-TAMKY-BSC1"
    }  # fmt: skip
    assert not children.carries.prefixes
    assert network.children_of("CAP-TAM-KY-02", ELECTION_DAY).carries.prefixes == ("VNPT-TAM-KY-0",)
    assert network.children_of("NOWHERE", ELECTION_DAY).nodes == ()


@pytest.mark.parametrize(
    ("at", "cable"),
    [
        (HOTLINES_FROM - TINY, None),
        (HOTLINES_FROM, "CAP-TAM-KY-03"),
        (HOTLINES_UNTIL - TINY, "CAP-TAM-KY-03"),
        (HOTLINES_UNTIL, None),
    ],
)
def test_an_effective_period_starts_inclusive_and_ends_exclusive(
    registry: Registry, at: datetime, cable: str | None
) -> None:
    found = registry.network.parent_of("HOTLINE-BAUCU-03", at)
    assert (found.id if found else None) == cable


def test_a_node_moved_to_another_parent_at_a_date() -> None:
    moved = datetime(2007, 5, 15, tzinfo=LOCAL)
    topology = Topology(
        TopologyNode.model_validate(n)
        for n in (
            {"id": "A", "kind": "exchange", "district": "x", "owner": "o"},
            {"id": "B", "kind": "exchange", "district": "x", "owner": "o"},
            {"id": "C", "kind": "cable", "district": "x", "owner": "o", "parent": "A",
             "effective_until": moved},
            {"id": "C", "kind": "cable", "district": "x", "owner": "o", "parent": "B",
             "effective_from": moved, "carries": {"prefixes": ["L-"]}},
        )
    )  # fmt: skip
    assert topology.path("L-1", moved - TINY) == ("L-1",)
    assert topology.path("C", moved - TINY) == ("A", "C")
    assert topology.path("L-1", moved) == ("B", "C", "L-1")
    assert [n.id for n in topology.children_of("A", moved).nodes] == []


IDS = st.sampled_from("ABCDEF")


@given(st.dictionaries(IDS, st.one_of(st.none(), IDS), min_size=1))
def test_parent_chains_always_terminate(parents: dict[str, str | None]) -> None:
    # Built without the load's checks, so cycles and missing parents are all possible.
    topology = Topology(
        TopologyNode(id=i, kind=NodeKind.NODE, district="x", owner="o", parent=p)
        for i, p in parents.items()
    )
    for node_id in parents:
        chain = topology.chain(node_id, ELECTION_DAY)
        assert len(chain) <= len(parents)
        assert len({n.id for n in chain}) == len(chain)


T = "topology.yaml"
CAP01_PARENT = "parent: TD-TAM-KY\n    carries: {prefixes: [VNPT-TAM-KY-SUBSC-"
CAP02_CARRIES = "carries: {prefixes: [VNPT-TAM-KY-0]}"
BSC_PARENT = "parent: TD-TAM-KY\n    carries: {prefixes: [VNPT-NET-TAM-KY-CELL-]}"
EXCHANGE_END = "name: Tổng đài Tam Kỳ, district: tam-ky, owner: vnpt-quang-nam}"
BAD = [
    # (case, edits, key blamed, words in the reason)
    ("unknown parent", [(CAP01_PARENT, CAP01_PARENT.replace("TD-TAM-KY", "TD-TAMKY"))],
     "topology[1].parent", "unknown parent 'TD-TAMKY'"),
    ("parent out of force", [(EXCHANGE_END, EXCHANGE_END.replace(
        "}", ", effective_from: 2007-05-10T00:00:00+07:00}"))],
     "topology[1].parent", "parent 'TD-TAM-KY' is not in force"),
    ("cycle", [(CAP01_PARENT, CAP01_PARENT.replace("TD-TAM-KY", "CAP-TAM-KY-02")),
               ("parent: TD-TAM-KY\n    " + CAP02_CARRIES,
                "parent: CAP-TAM-KY-01\n    " + CAP02_CARRIES)],
     "topology[1].parent", "cycle: CAP-TAM-KY-01 → CAP-TAM-KY-02 → CAP-TAM-KY-01"),
    ("controller under a cable", [(BSC_PARENT, BSC_PARENT.replace("TD-TAM-KY", "CAP-TAM-KY-01"))],
     "topology[4].parent", "not from the cable CAP-TAM-KY-01"),
    ("cable without parent", [(CAP01_PARENT, CAP01_PARENT.replace("parent: TD-TAM-KY\n    ", ""))],
     "topology[1].kind", "give it a parent"),
    ("exchange carrying lines", [(EXCHANGE_END, EXCHANGE_END.replace(
        "}", ", carries: {ids: [VNPT-TAM-KY-9999]}}"))],
     "topology[0].carries", "carries no lines"),
    ("two cables claim one line", [(CAP02_CARRIES, "carries: {prefixes: [VNPT-TAM-KY-]}")],
     "topology[2].carries.prefixes[0]", "overlaps prefix 'VNPT-TAM-KY-SUBSC-' of CAP-TAM-KY-01"),
    ("another operator's lines", [(CAP02_CARRIES, "carries: {ids: [VTL-TAM-KY-0001]}")],
     "topology[2].carries.ids[0]", "belongs to viettel-quang-nam"),
    ("a node carried as a leaf", [(CAP02_CARRIES, "carries: {ids: [VNPT-NET-TAMKY-BSC1]}")],
     "topology[4].id", "carries it as a leaf"),
    ("unknown owner", [(EXCHANGE_END, EXCHANGE_END.replace("vnpt-quang-nam", "vnpt"))],
     "topology[0].owner", "unknown enterprise 'vnpt'"),
    ("owner not an operator", [(EXCHANGE_END, EXCHANGE_END.replace(
        "vnpt-quang-nam", "buu-dien-tam-ky"))],
     "topology[0].owner", "not a telecom operator"),
    ("unknown district", [(EXCHANGE_END, EXCHANGE_END.replace("tam-ky", "tamky"))],
     "topology[0].district", "unknown district 'tamky'"),
    ("unknown kind", [("kind: exchange", "kind: switch")], "topology[0].kind", "exchange"),
    ("two versions at once", [("topology:\n", "topology:\n  - {id: TD-TAM-KY, kind: exchange, "
                               "district: tam-ky, owner: vnpt-quang-nam, "
                               "effective_from: 2007-05-10T00:00:00+07:00}\n")],
     "topology[1].id", "also in force in topology[0]"),
    ("period ends before it starts", [("2007-06-01T00", "2007-04-01T00")],
     "topology[3]", "must be after"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "edits", "key", "words"), BAD, ids=[r[0] for r in BAD])
def test_a_bad_topology_names_file_line_and_key(
    tmp_path: Path, case: str, edits: list[tuple[str, str]], key: str, words: str
) -> None:
    copy = reference_copy(tmp_path)
    for old, new in edits:
        edit(copy / T, old, new)
    with pytest.raises(RegistryError) as caught:
        load_registry(copy)
    matching = [p for p in caught.value.problems if p.key == key]
    assert matching, str(caught.value)
    problem = next((p for p in matching if words in p.reason), None)
    assert problem is not None, str(caught.value)
    assert problem.file == copy / T
    assert problem.line is not None
