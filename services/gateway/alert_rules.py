"""The Alertmanager mapping file: which alerts become which reports, checked at load. No I/O
but reading the file.

Each rule matches an alert's labels (`match`: equal, `match_re`: a full regex match), names
the report `kind`, and fills report fields (`fields`: dotted path -> a literal or a template
of `{labels.NAME}` / `{annotations.NAME}`, with a default after `|`); `values` maps a field's
rendered text to the report's words. The rules are tried in order; the first match wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt
from pydantic import ValidationError as PydanticValidationError

from schemas.errors import RegistryProblem, SignalPostError, error_details, field_path
from schemas.kinds import KIND
from schemas.located_yaml import Key, YamlReadError, read_located_yaml

__all__ = [
    "REFERENCE_MAPPING",
    "SET_BY_GATEWAY",
    "AlertMappingError",
    "AlertRule",
    "AlertRules",
    "fillable_fields",
    "load_alert_rules",
]

REFERENCE_MAPPING = Path(__file__).resolve().parent / "data" / "alertmanager.yaml"
# Filled from the alert and the token, never by a rule: one occurrence, one id and one time.
SET_BY_GATEWAY = frozenset(
    {"kind", "schema_version", "report_id", "reported_by", "occurred_at", "reported_at"}
)
# `{labels.NAME}` or `{annotations.NAME|default}`; NAME as Prometheus spells label names.
PLACEHOLDER = re.compile(r"\{(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)(?:\|([^{}]*))?\}")
AlertKind = Literal["line_fault", "capacity_alarm"]
Literal_ = StrictBool | StrictInt | StrictFloat | str
Add = Callable[[Key, str], None]


class _Spec(BaseModel):
    # A misspelt key would otherwise be ignored, and a rule would match more than meant.
    model_config = ConfigDict(frozen=True, extra="forbid")


class _RuleSpec(_Spec):
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    kind: AlertKind
    fields: dict[str, Literal_]
    values: dict[str, dict[str, str]] = Field(default_factory=dict)


class _FileSpec(_Spec):
    rules: list[_RuleSpec] = Field(min_length=1)


@dataclass(frozen=True)
class AlertRule:
    """One compiled rule: what it matches, the kind it makes, how it fills the fields."""

    number: int  # 1-based, as a reader counts the file's rules
    match: Mapping[str, str]
    match_re: Mapping[str, re.Pattern[str]]
    kind: AlertKind
    fields: Mapping[str, str | bool | int | float]  # a text is a template
    values: Mapping[str, Mapping[str, str]]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with `labels` is this rule's (a missing label matches as empty)."""
        return all(labels.get(k) == v for k, v in self.match.items()) and all(
            p.fullmatch(labels.get(k, "")) for k, p in self.match_re.items()
        )


@dataclass(frozen=True)
class AlertRules:
    """The rules of one mapping file, in order."""

    file: Path
    rules: tuple[AlertRule, ...]


class AlertMappingError(SignalPostError):
    """A mapping file cannot be read or does not hold sound rules; each problem located."""

    def __init__(self, problems: list[RegistryProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("bad Alertmanager mapping:\n" + "\n".join(f"  {p}" for p in problems))


def fillable_fields(kind: str) -> dict[str, tuple[Any, bool]]:
    """Every dotted leaf field a rule may fill for `kind`: its type and whether it is required."""
    return dict(_leaves(KIND[kind].model, ""))


def _leaves(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, tuple[Any, bool]]]:
    for name, info in model.model_fields.items():
        if not prefix and name in SET_BY_GATEWAY:
            continue
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _leaves(kind, f"{prefix}{name}.")
        elif name != "received_at":  # set by SignalPost on arrival
            yield f"{prefix}{name}", (kind, info.is_required())


def load_alert_rules(path: Path) -> AlertRules:
    """Read and check the mapping file at `path`; AlertMappingError with file and line."""
    path = Path(path)
    try:
        found = read_located_yaml(path)
    except YamlReadError as exc:
        raise AlertMappingError([RegistryProblem(path, exc.line, "", exc.reason)]) from None
    problems: list[RegistryProblem] = []

    def add(key: Key, reason: str) -> None:
        # The nearest line the file has for the key: a missing key is its parent's.
        known = (key[:n] for n in range(len(key), -1, -1) if key[:n] in found.lines)
        line = found.lines.get(next(known, ()))
        problems.append(RegistryProblem(path, line, field_path(key), reason))

    for key in found.duplicates:
        add(key, "key repeated; YAML would keep only the last one")
    try:
        spec = _FileSpec.model_validate(found.data)
    except PydanticValidationError as error:
        for detail in error_details(error):
            add(tuple(detail["loc"]), detail["msg"])
        raise AlertMappingError(problems) from None
    rules = tuple(_compile(number, rule, add) for number, rule in enumerate(spec.rules, 1))
    if problems:
        raise AlertMappingError(problems)
    return AlertRules(path, rules)


def _compile(number: int, rule: _RuleSpec, add: Add) -> AlertRule:
    at: Key = ("rules", number - 1)
    fillable = fillable_fields(rule.kind)
    fields: dict[str, str | bool | int | float] = {}
    for name, value in rule.fields.items():
        if name not in fillable:
            known = ", ".join(fillable)
            add((*at, "fields", name), f"{rule.kind} has no field {name!r} to fill; it has {known}")
        else:
            if isinstance(value, str):
                _check_template(value, (*at, "fields", name), add)
            fields[name] = value
    for name, (_, required) in fillable.items():
        if required and name not in rule.fields:
            add((*at, "fields"), f"a {rule.kind} needs the field {name!r}; the rule fills none")
    for name in rule.values:
        if name not in rule.fields:
            add((*at, "values", name), f"values for {name!r}, which the rule's fields do not fill")
    patterns = _patterns(rule.match_re, at, add)
    return AlertRule(number, rule.match, patterns, rule.kind, fields, rule.values)


def _patterns(sources: Mapping[str, str], at: Key, add: Add) -> dict[str, re.Pattern[str]]:
    patterns = {}
    for label, source in sources.items():
        try:
            patterns[label] = re.compile(source)
        except re.error as exc:
            add((*at, "match_re", label), f"not a regular expression: {exc}")
    return patterns


def _check_template(text: str, key: Key, add: Add) -> None:
    rest = PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        add(key, f"{text!r}: braces hold only {{labels.NAME}} or {{annotations.NAME|default}}")
