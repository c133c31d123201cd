"""Hostile YAML (alias bombs, deep nesting) is a clear error with a line, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import RegistryError
from schemas.located_yaml import MAX_DEPTH, YamlReadError, read_located_yaml
from schemas.registry import REFERENCE_REGISTRY, load_registry
from services.auditor.rulebook import RuleBook
from services.router import REFERENCE_RULES, RuleSetError, load_rule_set

pytestmark = pytest.mark.unit

# Nine levels of ten aliases each: 10**9 strings once expanded, a few hundred bytes as text.
BILLION_LAUGHS = "\n".join(
    ['a0: &a0 "lol"']
    + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 10)]
    + ["rules: *a9", ""]
)


def write(tmp_path: Path, text: str, name: str = "file.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_alias_bomb_is_refused_at_its_first_anchor(tmp_path: Path) -> None:
    with pytest.raises(YamlReadError) as caught:
        read_located_yaml(write(tmp_path, BILLION_LAUGHS))
    assert caught.value.line == 1
    assert caught.value.reason == (
        "YAML anchor &a0: anchors and aliases are not allowed here; write the value out"
    )


def test_an_alias_without_its_anchor_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(YamlReadError) as caught:
        read_located_yaml(write(tmp_path, "a: 1\nb: *nowhere\n"))
    assert caught.value.line == 2
    assert "YAML alias *nowhere" in caught.value.reason


DEPTH = 10_000


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * DEPTH + "]" * DEPTH + "\n", "- " * DEPTH + "x\n"],
    ids=["flow", "block"],
)
def test_a_ten_thousand_deep_list_is_refused_with_the_depth(tmp_path: Path, text: str) -> None:
    with pytest.raises(YamlReadError) as caught:
        read_located_yaml(write(tmp_path, text))
    assert caught.value.reason == f"YAML nested deeper than {MAX_DEPTH} levels"
    assert caught.value.line is not None


def test_nesting_up_to_the_bound_is_read(tmp_path: Path) -> None:
    # The document's top mapping is level 1; MAX_DEPTH - 1 lists fit inside it.
    inner = MAX_DEPTH - 1
    found = read_located_yaml(write(tmp_path, "a: " + "[" * inner + "]" * inner + "\n"))
    assert found.data["a"] is not None


def test_a_rule_file_with_an_alias_bomb_names_file_line_and_reason(tmp_path: Path) -> None:
    registry = load_registry(REFERENCE_REGISTRY)
    path = write(tmp_path, BILLION_LAUGHS, "rules.yaml")
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path, registry)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (path, 1)
    assert "anchors and aliases are not allowed" in problem.reason


def test_a_registry_file_nested_too_deep_names_file_and_reason(tmp_path: Path) -> None:
    for source in REFERENCE_REGISTRY.glob("*.yaml"):
        write(tmp_path, source.read_text(encoding="utf-8"), source.name)
    path = tmp_path / "registry.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "x: " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.reason) == (path, f"YAML nested deeper than {MAX_DEPTH} levels")


def test_rule_text_from_the_log_with_an_alias_bomb_is_unreadable_not_a_hang() -> None:
    book = RuleBook(load_registry(REFERENCE_REGISTRY), [], [BILLION_LAUGHS])
    assert not book.versions
    (path,) = book.unreadable
    assert path.name == "from-the-log-0.yaml"


def test_the_reference_files_still_load() -> None:
    registry = load_registry(REFERENCE_REGISTRY)
    assert load_rule_set(REFERENCE_RULES, registry).rules


def test_an_impossible_date_is_a_clear_error_with_its_line(tmp_path: Path) -> None:
    # PyYAML builds 2007-13-01 as a date and fails with a bare ValueError, which a router
    # reloading its rule file did not catch.
    text = "version: 1\ncalendar:\n  election_days: [2007-05-20, 2007-13-01]\n"
    with pytest.raises(YamlReadError) as caught:
        read_located_yaml(write(tmp_path, text))
    assert caught.value.line == 3
    assert "2007-13-01" in caught.value.reason and "month" in caught.value.reason


def test_a_rule_file_with_an_impossible_date_is_a_rule_set_error(tmp_path: Path) -> None:
    text = REFERENCE_RULES.read_text(encoding="utf-8") + "\nstray: 2007-02-30\n"
    with pytest.raises(RuleSetError, match="2007-02-30"):
        load_rule_set(write(tmp_path, text), load_registry(REFERENCE_REGISTRY))
