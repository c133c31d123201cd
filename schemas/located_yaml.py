"""YAML read with the line of every key, and duplicate keys found: for errors that say where."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Key = tuple[str | int, ...]


class YamlReadError(Exception):
    """A YAML file could not be read or parsed; `line` is where, when known."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class LocatedYaml:
    """A parsed document, the line of every key path, and the keys given twice."""

    data: Any
    lines: dict[Key, int]
    duplicates: list[Key]


def read_located_yaml(file: Path) -> LocatedYaml:
    """Parse `file` safely; raise YamlReadError with the line and reason on failure."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlReadError(None, f"cannot read: {exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = f"YAML syntax: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark:
            # The parser notices a missing bracket only on a later line; say where it began.
            reason += f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise YamlReadError(mark.line + 1 if mark else None, reason) from None
    except yaml.YAMLError as exc:
        raise YamlReadError(None, f"YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[Key, int] = {}
    duplicates: list[Key] = []
    if node is not None:
        _walk(node, (), lines, duplicates)
    return LocatedYaml(data, lines, duplicates)


def _walk(node: yaml.Node, key: Key, lines: dict[Key, int], duplicates: list[Key]) -> None:
    # PyYAML keeps the last of two equal keys without a word; in hand-edited data that hides
    # a mistake, so duplicates are collected and reported.
    lines.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen = Counter(k.value for k, _ in node.value)
        duplicates.extend((*key, name) for name, count in seen.items() if count > 1)
        for k, v in node.value:
            lines.setdefault((*key, k.value), k.start_mark.line + 1)
            _walk(v, (*key, k.value), lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*key, index), lines, duplicates)
