"""YAML read with the line of every key, duplicate keys found, no aliases, bounded depth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Key = tuple[str | int, ...]

# The reference rule and registry files nest 7 levels at most; a bound far above that keeps
# the recursive composer (and the walks over its nodes) well inside Python's stack.
MAX_DEPTH = 32


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
    try:
        # Made inside: the reader refuses characters YAML forbids (a NUL) as it is built.
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:
        raise YamlReadError(None, f"YAML: {exc}") from None
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


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader without anchors or aliases, and with a bound on nesting.

    Aliases are how a few hundred bytes expand to a billion nodes (and an alias to an
    enclosing node makes a cycle); hand-written rule and registry files have no need of them.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # types-PyYAML leaves Parser.peek_event unannotated (its event is read as Any).
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if event.anchor is not None:
            what = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
            raise YamlReadError(
                event.start_mark.line + 1,
                f"YAML {what}{event.anchor}: anchors and aliases are not allowed here; "
                "write the value out",
            )
        nested = isinstance(event, yaml.CollectionStartEvent)
        if nested and self.depth >= MAX_DEPTH:
            raise YamlReadError(
                event.start_mark.line + 1, f"YAML nested deeper than {MAX_DEPTH} levels"
            )
        self.depth += nested
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= nested

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """A date or time; an impossible one (2007-13-01) is an error with its line.

        PyYAML matches the shape, then lets datetime raise a bare ValueError, which no reader
        of rule or registry files expected (a router reloading such a file ended).
        """
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise YamlReadError(
                node.start_mark.line + 1, f"YAML date {node.value}: not a real date ({exc})"
            ) from None


_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _BoundedLoader.construct_yaml_timestamp
)


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
