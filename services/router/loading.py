"""Loading a rule file: read, checked against its shape and the registry, compiled, versioned."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from schemas.errors import error_details
from schemas.located_yaml import Key, YamlReadError, read_located_yaml
from schemas.registry import Registry
from services.router.calendar import Calendar, Period
from services.router.checks import check_coverage, check_shadowing
from services.router.criteria import CRITERIA, Condition
from services.router.kinds import ALL_KINDS, Kinds
from services.router.parties import RESOLVERS, Party
from services.router.problems import RuleSetError, RuleSetProblem, Where
from services.router.rulefile import _FileSpec, _LevelSpec, _RuleSpec, check_zone
from services.router.ruleset import Level, Rule, RuleSet, content_version

__all__ = ["REFERENCE_RULES", "load_rule_set"]

REFERENCE_RULES = Path(__file__).resolve().parent / "data" / "quang-nam-2007.yaml"


def load_rule_set(path: Path, registry: Registry) -> RuleSet:
    """Read, check and compile a rule file against `registry`; RuleSetError on any problem."""
    path = Path(path)
    raw, lines, duplicates = _read_yaml(path)
    where = Where(path, raw, lines)
    for key in duplicates:
        where.add(key, "key repeated; YAML would keep only the last one")
    try:
        spec = _FileSpec.model_validate(raw)
    except ValidationError as error:
        for detail in error_details(error):
            where.add(tuple(detail["loc"]), detail["msg"])
        raise RuleSetError(where.problems) from None
    calendar = _calendar(spec, where)
    rules = tuple(_compile_rules(spec, registry, calendar, where))
    if not where.problems:
        check_shadowing(rules, registry, where)
        check_coverage(rules, registry, where)
    if where.problems:
        raise RuleSetError(where.problems)
    version = content_version(spec.roles, rules, calendar)
    return RuleSet(version, rules, calendar, path, registry.version)


def _read_yaml(file: Path) -> tuple[Any, dict[Key, int], list[Key]]:
    try:
        found = read_located_yaml(file)
    except YamlReadError as exc:
        raise RuleSetError([RuleSetProblem(file, exc.line, None, "", exc.reason)]) from None
    return found.data, found.lines, found.duplicates


def _calendar(spec: _FileSpec, where: Where) -> Calendar:
    periods = []
    for name, period in spec.periods.items():
        try:
            zone_name = check_zone(period.timezone or spec.timezone)
        except ValueError as exc:
            where.add(("periods", name, "timezone"), str(exc))
            continue
        zone = ZoneInfo(zone_name)
        start, end = period.start.replace(tzinfo=zone), period.end.replace(tzinfo=zone)
        if end <= start:
            where.add(("periods", name, "end"), f"period {name} ends before it starts")
            continue
        periods.append(Period(name, start, end, zone_name, period.description))
    return Calendar(tuple(sorted(periods, key=lambda p: p.name)))


def _compile_rules(
    spec: _FileSpec, registry: Registry, calendar: Calendar, where: Where
) -> Iterator[Rule]:
    roles = _roles(spec, registry, where)
    seen: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        at: Key = ("rules", index)
        if rule.id in seen:
            where.add((*at, "id"), f"rule id {rule.id!r} is also used by rule #{seen[rule.id] + 1}")
        seen.setdefault(rule.id, index)
        compiled = _compile_rule(rule, at, spec, roles, registry, calendar, where)
        if compiled is not None:
            yield compiled


def _roles(spec: _FileSpec, registry: Registry, where: Where) -> dict[str, tuple[str, ...]]:
    roles: dict[str, tuple[str, ...]] = {}
    for name, members in spec.roles.items():
        if name in RESOLVERS or registry.enterprise(name) is not None:
            where.add(("roles", name), f"role name {name!r} is already a resolver or enterprise")
        for j, member in enumerate(members):
            if registry.enterprise(member) is None:
                where.add(("roles", name, j), f"unknown enterprise {member!r} in the registry")
        roles[name] = members
    return roles


def _compile_rule(
    rule: _RuleSpec,
    at: Key,
    spec: _FileSpec,
    roles: Mapping[str, tuple[str, ...]],
    registry: Registry,
    calendar: Calendar,
    where: Where,
) -> Rule | None:
    before = len(where.problems)
    declared, conditions = _conditions(rule.when, (*at, "when"), registry, calendar, where)
    then, then_at = rule.then, (*at, "then")

    def parties(refs: tuple[str, ...], key: Key) -> tuple[Party, ...]:
        return tuple(_party(ref, (*key, j), roles, registry, where) for j, ref in enumerate(refs))

    primary = parties(then.primary, (*then_at, "primary"))
    notify = parties(then.notify, (*then_at, "notify"))
    support = parties(then.support, (*then_at, "support"))
    escalation = _escalation(then.escalation, then_at, spec, parties, where)
    _check_actions(rule, then_at, primary, where)
    everything: list[Condition | Party] = [
        *conditions,
        *primary,
        *notify,
        *support,
        *(p for lv in escalation for p in lv.notify),
    ]
    kinds = _kinds(declared, everything, (*at, "when"), where)
    if len(where.problems) > before:
        return None
    return Rule(
        id=rule.id,
        description=rule.description,
        line=where.lines.get(at),
        kinds=kinds,
        conditions=conditions,
        continues=rule.continue_,
        primary=primary,
        notify=notify,
        support=support,
        priority=then.priority,
        ack_within=then.ack_within,
        resolve_within=then.resolve_within,
        escalation=escalation,
    )


def _conditions(
    when: dict[str, Any], at: Key, registry: Registry, calendar: Calendar, where: Where
) -> tuple[Kinds | None, tuple[Condition, ...]]:
    declared: Kinds | None = None
    conditions = []
    for key, raw in when.items():
        criterion = CRITERIA.get(key)
        if criterion is None:
            known = ", ".join(sorted(CRITERIA))
            where.add((*at, key), f"unknown condition {key!r}; conditions: {known}")
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            where.add((*at, key), "an empty list never matches")
            continue
        allowed = set()
        for j, value in enumerate(values):
            try:
                allowed.add(criterion.parse(value, registry, calendar))
            except ValueError as exc:
                where.add((*at, key, j) if isinstance(raw, list) else (*at, key), str(exc))
        if key == "kind":
            declared = frozenset(allowed)
        else:
            conditions.append(Condition(criterion, frozenset(allowed)))
    return declared, tuple(sorted(conditions, key=lambda c: c.criterion.name))


def _party(
    ref: str, at: Key, roles: Mapping[str, tuple[str, ...]], registry: Registry, where: Where
) -> Party:
    if ref in RESOLVERS:
        return Party(ref, resolver=RESOLVERS[ref])
    if ref in roles:
        return Party(ref, members=roles[ref])
    if registry.enterprise(ref) is None:
        where.add(at, f"unknown enterprise, role or resolver {ref!r}")
    return Party(ref, members=(ref,))


def _escalation(
    chain: str | tuple[_LevelSpec, ...] | None,
    then_at: Key,
    spec: _FileSpec,
    parties: Callable[[tuple[str, ...], Key], tuple[Party, ...]],
    where: Where,
) -> tuple[Level, ...]:
    at: Key = (*then_at, "escalation")
    if isinstance(chain, str):
        if chain not in spec.escalations:
            known = ", ".join(sorted(spec.escalations)) or "none are defined"
            where.add(at, f"unknown escalation chain {chain!r}; chains: {known}")
            return ()
        at, chain = ("escalations", chain), spec.escalations[chain]
    levels = tuple(
        Level(step.after, parties(step.notify, (*at, n, "notify")))
        for n, step in enumerate(chain or ())
    )
    for n, (earlier, later) in enumerate(pairwise(levels)):
        if later.after < earlier.after:
            where.add((*at, n + 1, "after"), "levels must come in order of their delay")
    for n, level in enumerate(levels):
        # EscalationLevel needs someone to tell; a lookup that can find nobody cannot promise it.
        for j, party in enumerate(level.notify):
            if not party.always:
                where.add(
                    (*at, n, "notify", j),
                    f"{party.ref} may find nobody; escalate to a fixed enterprise, role or primary",
                )
    return levels


def _check_actions(rule: _RuleSpec, at: Key, primary: tuple[Party, ...], where: Where) -> None:
    then = rule.then
    decides = ("primary", "priority", "ack_within", "resolve_within", "escalation")
    if rule.continue_:
        # A continuing rule only adds people; the first terminal rule decides the rest, so
        # the outcome never depends on which of two continuing rules came last.
        for key in decides:
            if getattr(then, key) not in (None, ()):
                where.add(
                    (*at, key), f"a continuing rule may only set notify and support, not {key}"
                )
        return
    for key in decides[:4]:
        if getattr(then, key) in (None, ()):
            where.add((*at, key), f"a rule that does not continue must set {key}")
    for j, party in enumerate(primary):
        if not party.single:
            where.add(
                (*at, "primary", j),
                f"{party.ref} may stand for several enterprises; a primary is one",
            )
    if then.ack_within and then.resolve_within and then.ack_within > then.resolve_within:
        where.add((*at, "ack_within"), "ack_within is longer than resolve_within")


def _kinds(declared: Kinds | None, used: list[Condition | Party], at: Key, where: Where) -> Kinds:
    kinds = declared if declared is not None else ALL_KINDS
    for item in used:
        name, fits = (
            (item.criterion.name, item.criterion.kinds)
            if isinstance(item, Condition)
            else (item.ref, item.kinds)
        )
        if declared is not None and not declared <= fits:
            wrong = ", ".join(sorted(declared - fits))
            where.add((*at, "kind"), f"{name} does not apply to {wrong}")
        kinds &= fits
    if not kinds and declared is None:
        where.add(at, "no report kind has everything this rule uses; set kind")
    return kinds
