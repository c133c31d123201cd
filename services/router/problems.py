"""What is wrong in a rule file, each problem located by file, line, rule and key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import SignalPostError, field_path
from schemas.located_yaml import Key

__all__ = ["RuleSetError", "RuleSetProblem", "Where"]


@dataclass(frozen=True)
class RuleSetProblem:
    """One thing wrong in a rule file: where (file, line, rule, key) and why."""

    file: Path
    line: int | None
    rule: str | None
    key: str
    reason: str

    def __str__(self) -> str:
        """The problem as one line a rule author can act on."""
        parts = [str(self.file)]
        parts += [f"line {self.line}"] if self.line is not None else []
        parts += [f"rule {self.rule}"] if self.rule else []
        parts += [f"key {self.key}"] if self.key else []
        return f"{', '.join(parts)}: {self.reason}"


class RuleSetError(SignalPostError):
    """A rule file cannot be read or does not hold a sound rule set; names file, rule, reason."""

    def __init__(self, problems: Iterable[RuleSetProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("bad rule set:\n" + "\n".join(f"  {p}" for p in self.problems))


class Where:
    """Turns a key path of the file into a located problem: line and rule id."""

    def __init__(self, file: Path, raw: Any, lines: dict[Key, int]) -> None:
        self.file, self.raw, self.lines = file, raw, lines
        self.problems: list[RuleSetProblem] = []

    def add(self, key: Key, reason: str) -> None:
        """Record a problem at `key`, located at the nearest line the file has for it."""
        line = next(
            (self.lines[key[:n]] for n in range(len(key), -1, -1) if key[:n] in self.lines), None
        )
        self.problems.append(
            RuleSetProblem(self.file, line, self._rule(key), field_path(key), reason)
        )

    def _rule(self, key: Key) -> str | None:
        if len(key) < 2 or key[0] != "rules" or not isinstance(key[1], int):
            return None
        try:
            rule_id = self.raw["rules"][key[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return str(rule_id) if rule_id is not None else f"#{key[1] + 1}"
