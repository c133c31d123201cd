"""The compiled rule set: its rules and their escalation levels, and the hash of its content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from schemas.routing import Priority
from services.router.calendar import Calendar
from services.router.criteria import Condition
from services.router.kinds import Kinds
from services.router.parties import Party

__all__ = ["Level", "Rule", "RuleSet", "content_version"]


@dataclass(frozen=True)
class Level:
    """One escalation step of a rule: after a missed deadline, whom to tell."""

    after: timedelta
    notify: tuple[Party, ...]


@dataclass(frozen=True)
class Rule:
    """One routing rule: conditions, whether evaluation continues, and the actions."""

    id: str
    description: str
    line: int | None
    kinds: Kinds
    conditions: tuple[Condition, ...]
    continues: bool
    # Fallbacks in order: the first that finds an enterprise is the primary.
    primary: tuple[Party, ...] = ()
    notify: tuple[Party, ...] = ()
    support: tuple[Party, ...] = ()
    priority: Priority | None = None
    ack_within: timedelta | None = None
    resolve_within: timedelta | None = None
    escalation: tuple[Level, ...] = ()

    @property
    def always_finds_primary(self) -> bool:
        """Whether the primary is found for every report the conditions let through."""
        return any(party.always for party in self.primary)


@dataclass(frozen=True)
class RuleSet:
    """An ordered, checked rule set with its calendar; `version` hashes its parsed content."""

    version: str
    rules: tuple[Rule, ...]
    calendar: Calendar
    source: Path
    registry_version: str = field(default="", compare=False)


def content_version(
    roles: Mapping[str, tuple[str, ...]], rules: tuple[Rule, ...], calendar: Calendar
) -> str:
    """The version of a rule set: a SHA-256 of its roles, rules and calendar."""
    # The parsed content, not the file text: comments and layout change no decision, so they
    # must not change the version decisions record; rule order and every value do.
    content = {
        "periods": [
            {
                "name": p.name,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "timezone": p.timezone,
                "description": p.description,
            }
            for p in calendar.periods
        ],
        "roles": {name: list(members) for name, members in sorted(roles.items())},
        "rules": [_rule_content(rule) for rule in rules],
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rule_content(rule: Rule) -> dict[str, Any]:
    def refs(parties: tuple[Party, ...]) -> list[str]:
        return [p.ref for p in parties]

    def seconds(delta: timedelta | None) -> float | None:
        return delta.total_seconds() if delta is not None else None

    return {
        "id": rule.id,
        "description": rule.description,
        "kinds": sorted(rule.kinds),
        "when": {c.criterion.name: sorted(map(str, c.allowed)) for c in rule.conditions},
        "continue": rule.continues,
        "primary": refs(rule.primary),
        "notify": refs(rule.notify),
        "support": refs(rule.support),
        "priority": rule.priority,
        "ack_within": seconds(rule.ack_within),
        "resolve_within": seconds(rule.resolve_within),
        "escalation": [
            {"after": seconds(lv.after), "notify": refs(lv.notify)} for lv in rule.escalation
        ],
    }
