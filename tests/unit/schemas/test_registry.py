"""The reference registry: its content, lookups, version, located load errors, reference checks."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.errors import RegistryError
from schemas.references import check_references
from schemas.registry import EnterpriseKind, Registry, load_registry
from tests.support.contract_samples import EXAMPLES, example
from tests.support.registry_copies import edit, reference_copy

pytestmark = pytest.mark.unit

DISTRICTS = {
    "tam-ky": "Tam Kỳ",
    "hoi-an": "Hội An",
    "dien-ban": "Điện Bàn",
    "duy-xuyen": "Duy Xuyên",
    "dai-loc": "Đại Lộc",
    "que-son": "Quế Sơn",
    "thang-binh": "Thăng Bình",
    "nui-thanh": "Núi Thành",
    "phu-ninh": "Phú Ninh",
    "tien-phuoc": "Tiên Phước",
    "hiep-duc": "Hiệp Đức",
    "bac-tra-my": "Bắc Trà My",
    "nam-tra-my": "Nam Trà My",
    "phuoc-son": "Phước Sơn",
    "nam-giang": "Nam Giang",
    "dong-giang": "Đông Giang",
    "tay-giang": "Tây Giang",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A writable copy of the reference registry."""
    return reference_copy(tmp_path)


def test_the_17_districts_of_quang_nam_in_2007(registry: Registry) -> None:
    assert {d.id: d.name for d in registry.districts} == DISTRICTS
    assert all(unicodedata.is_normalized("NFC", d.name) for d in registry.districts)


def test_enterprises_of_each_kind(registry: Registry) -> None:
    assert [e.id for e in registry.of_kind(EnterpriseKind.SUPERVISOR)] == ["so-bcvt-quang-nam"]
    assert {e.id for e in registry.of_kind(EnterpriseKind.AUTHORITY)} == {
        "cong-an-quang-nam",
        "uy-ban-bau-cu-quang-nam",
    }
    assert {e.id for e in registry.of_kind(EnterpriseKind.TELECOM)} == {
        "vnpt-quang-nam",
        "viettel-quang-nam",
        "evn-telecom-quang-nam",
        "sfone-quang-nam",
    }
    assert len(registry.of_kind(EnterpriseKind.POSTAL)) == 18
    assert all(e.duty_teams and e.escalation for e in registry.enterprises)


@pytest.mark.parametrize(
    ("line_id", "owner"),
    [
        ("VNPT-QNM-0510-381234", "vnpt-quang-nam"),
        ("HOTLINE-BAUCU-02", "vnpt-quang-nam"),
        ("VTL-TK-0042", "viettel-quang-nam"),
        ("EVNT-DB-7", "evn-telecom-quang-nam"),
        ("SFN-HA-1", "sfone-quang-nam"),
        ("HOTLINE-BAUCU-09", None),
        ("unknown-line", None),
    ],
)
def test_owner_of_line(registry: Registry, line_id: str, owner: str | None) -> None:
    found = registry.owner_of_line(line_id)
    assert (found.id if found else None) == owner


def test_owner_of_resource_is_a_separate_namespace(registry: Registry) -> None:
    assert registry.owner_of_resource("VTL-NET-HOIAN-BSC1").id == "viettel-quang-nam"
    assert registry.owner_of_resource("VTL-TK-0042") is None


def test_each_district_has_its_post_office(registry: Registry) -> None:
    for district_id in DISTRICTS:
        office = registry.post_office_for(district_id)
        assert office is not None
        assert office.parent == "buu-dien-quang-nam"
    assert registry.post_office_for("hanoi") is None


def test_operators_in_a_district(registry: Registry) -> None:
    assert [e.id for e in registry.operators_in("tay-giang")] == ["vnpt-quang-nam"]
    assert len(registry.operators_in("hoi-an")) == 4
    assert registry.district("tam-ky").kind == "city"
    assert registry.enterprise("nobody") is None


def test_version_is_stable_and_ignores_layout(copy: Path, registry: Registry) -> None:
    assert registry.version.startswith("sha256:")
    assert load_registry().version == registry.version
    edit(copy / "districts.yaml", "districts:", "# a comment\ndistricts:")
    assert load_registry(copy).version == registry.version


def test_version_changes_when_content_changes(copy: Path, registry: Registry) -> None:
    edit(copy / "enterprises.yaml", '"0510 3005 100"', '"0510 3005 199"')
    assert load_registry(copy).version != registry.version


def test_names_in_nfd_are_stored_in_nfc(copy: Path, registry: Registry) -> None:
    edit(copy / "districts.yaml", "Tây Giang", unicodedata.normalize("NFD", "Tây Giang"))
    loaded = load_registry(copy)
    assert loaded.district("tay-giang").name == "Tây Giang"
    assert loaded.version == registry.version


BAD = [
    # (case, file edited, old text, new text, "file blamed:key blamed", words in the reason)
    (
        "bad phone",
        "enterprises.yaml",
        '"0510 3005 100"',
        '"call me"',
        "enterprises.yaml:enterprises[24].escalation[0].contacts[0].phone",
        "pattern",
    ),
    (
        "unknown kind",
        "enterprises.yaml",
        "kind: supervisor",
        "kind: boss",
        "enterprises.yaml:enterprises[0].kind",
        "supervisor",
    ),
    ("unknown key", "registry.yaml", "province:", "provence:", "registry.yaml:provence", "Extra"),
    (
        "unknown district",
        "enterprises.yaml",
        "districts: [tay-giang]",
        "districts: [tay-gian]",
        "enterprises.yaml:enterprises[20].districts[0]",
        "unknown district 'tay-gian'",
    ),
    (
        "district with no post office",
        "enterprises.yaml",
        "districts: [tay-giang]",
        "districts: []",
        "districts.yaml:districts[16].id",
        "no post office",
    ),
    (
        "two owners of one prefix",
        "enterprises.yaml",
        "prefixes: [SFN-]",
        "prefixes: [VNPT-QNM-]",
        "enterprises.yaml:enterprises[24].owns.lines.prefixes[0]",
        "overlaps prefix 'VNPT-'",
    ),
    (
        "repeated id",
        "districts.yaml",
        "{id: hoi-an,",
        "{id: tam-ky,",
        "districts.yaml:districts[1].id",
        "used twice",
    ),
    (
        "repeated key",
        "registry.yaml",
        "province: Quảng Nam",
        "province: Quảng Nam\nprovince: X",
        "registry.yaml:province",
        "repeated",
    ),
    (
        "escalation out of order",
        "enterprises.yaml",
        "level: 2",
        "level: 3",
        "enterprises.yaml:enterprises[0].escalation",
        "in order",
    ),
    (
        "bad time zone",
        "registry.yaml",
        "Asia/Ho_Chi_Minh",
        "Asia/Saigon_City",
        "registry.yaml:timezone",
        "unknown time zone",
    ),
]


@pytest.mark.parametrize(
    ("case", "file", "old", "new", "blamed", "words"), BAD, ids=[r[0] for r in BAD]
)
def test_a_bad_registry_names_file_line_and_key(
    copy: Path, case: str, file: str, old: str, new: str, blamed: str, words: str
) -> None:
    edit(copy / file, old, new)
    with pytest.raises(RegistryError) as caught:
        load_registry(copy)
    blamed_file, key = blamed.split(":")
    matching = [p for p in caught.value.problems if p.key == key]
    assert matching, str(caught.value)
    problem = matching[0]
    assert problem.file == copy / blamed_file
    assert words in problem.reason
    assert problem.line is not None
    assert f"{blamed_file}, line {problem.line}, key {key}" in str(caught.value)


def test_the_line_points_at_the_bad_key(copy: Path) -> None:
    edit(copy / "registry.yaml", "timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus")
    with pytest.raises(RegistryError) as caught:
        load_registry(copy)
    (problem,) = caught.value.problems
    lines = (copy / "registry.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[problem.line - 1].startswith("timezone:")


def test_yaml_syntax_errors_name_the_line(copy: Path) -> None:
    (copy / "registry.yaml").write_text("name: x\nprovince: [unclosed\n", encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(copy)
    (problem,) = caught.value.problems
    assert problem.file == copy / "registry.yaml"
    assert problem.line is not None
    assert "YAML syntax" in problem.reason


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"- a list\n", "mapping"), (b"\xff\xfe", "cannot read")],
    ids=["not a mapping", "not UTF-8"],
)
def test_unreadable_files_are_named(copy: Path, content: bytes, words: str) -> None:
    (copy / "registry.yaml").write_bytes(content)
    with pytest.raises(RegistryError, match=words) as caught:
        load_registry(copy)
    assert caught.value.problems[0].file == copy / "registry.yaml"


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"no \*\.yaml files"):
        load_registry(tmp_path)


def report(name: str, **changes: str):
    """A valid example report with some fields changed."""
    return decode(REPORT, json.dumps({**example(name), **changes}).encode())


def test_known_references_pass(registry: Registry) -> None:
    for path in EXAMPLES.glob("report.*.json"):
        assert check_references(report(path.stem), registry) == ()


@pytest.mark.parametrize(
    ("name", "changes", "field", "words"),
    [
        (
            "report.line-fault-cleared",
            {"district": "tien-phuc"},
            "district",
            "did you mean 'tien-phuoc'?",
        ),
        (
            "report.line-fault-cleared",
            {"operator": "mobifone"},
            "operator",
            "unknown enterprise 'mobifone'",
        ),
        (
            "report.line-fault-cleared",
            {"operator": "buu-dien-tam-ky"},
            "operator",
            "postal enterprise, not telecom",
        ),
        (
            "report.capacity-alarm-call-blocking",
            {"reported_by": "viettel"},
            "reported_by",
            "did you mean",
        ),
        (
            "report.suspicious-parcel-no-sender",
            {"post_office": "vnpt-quang-nam"},
            "post_office",
            "not postal",
        ),
    ],
)
def test_unknown_references_name_the_field_and_the_name(
    registry: Registry, name: str, changes: dict, field: str, words: str
) -> None:
    problems = check_references(report(name, **changes), registry)
    assert [p.field for p in problems] == [field]
    assert words in problems[0].reason
