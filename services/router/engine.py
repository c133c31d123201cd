"""Routing a report: the first terminal rule that matches decides; continuing rules add to it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schemas.errors import SignalPostError
from schemas.registry import Registry
from schemas.reports import AnyReport
from schemas.routing import EscalationLevel, RoutingDecision
from services.router.calendar import Calendar
from services.router.parties import Party, Resolution
from services.router.ruleset import Rule, RuleSet

__all__ = ["Explanation", "Miss", "NoRuleMatched", "RuleOutcome", "Trial", "explain", "route"]

# RoutingDecision.reasons items are ShortText.
_MAX_REASON = 200


class NoRuleMatched(SignalPostError):
    """No terminal rule matched; a loaded rule set and a referenced-checked report rule it out."""


class RuleOutcome(StrEnum):
    """What became of one rule when a report was routed."""

    DECIDED = "decided"
    ADDED = "added"
    NOT_MATCHED = "not matched"
    NOT_TRIED = "not tried"


def _show(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _listed(values: Iterable[Any]) -> str:
    return ", ".join(sorted(map(_show, values))) or "none"


@dataclass(frozen=True)
class Miss:
    """A condition a report did not meet: what the report showed, and what the rule allows."""

    name: str
    observed: tuple[Any, ...]
    allowed: frozenset[Any]

    def words(self, report: AnyReport) -> str:
        """The miss in words, for rule authors."""
        if self.name == "kind":
            return f"the rule is for {_listed(self.allowed)}; this is a {report.kind}"
        if self.name == "period":
            during = ", ".join(sorted(self.observed)) or "no period"
            return (
                f"occurred_at {report.occurred_at.isoformat()} falls in {during};"
                f" the rule needs {_listed(self.allowed)}"
            )
        return f"{self.name} is {_listed(self.observed)}; the rule needs {_listed(self.allowed)}"


@dataclass(frozen=True)
class Trial:
    """One rule tried against a report: the outcome and, when it did not match, why not."""

    rule: Rule
    outcome: RuleOutcome
    misses: tuple[Miss, ...] = ()
    # Lookups that found nobody for the primary, in words.
    unresolved: tuple[str, ...] = ()

    def why_not(self, report: AnyReport) -> tuple[str, ...]:
        """Why the rule did not match or was not tried; empty when it matched."""
        if self.outcome is RuleOutcome.NOT_TRIED:
            return ("an earlier rule decided; later rules are not tried",)
        return (*(m.words(report) for m in self.misses), *self.unresolved)


@dataclass(frozen=True)
class Explanation:
    """How a report was routed: every rule tried, in order, and the decision."""

    report: AnyReport
    ruleset_version: str
    active_periods: frozenset[str]
    trials: tuple[Trial, ...]
    decision: RoutingDecision

    @property
    def matched(self) -> tuple[Rule, ...]:
        """The rules that contributed: continuing ones, then the one that decided."""
        contributed = (RuleOutcome.ADDED, RuleOutcome.DECIDED)
        return tuple(t.rule for t in self.trials if t.outcome in contributed)


def route(
    report: AnyReport, rules: RuleSet, registry: Registry, calendar: Calendar
) -> RoutingDecision:
    """The routing decision for a report that passed check_references; pure and deterministic."""
    # The same evaluation as explain(), without recording why each earlier rule missed:
    # every report pays for routing, only rule authors pay for the explanation.
    periods = calendar.active_at(report.occurred_at)
    decided, added = _evaluate(report, rules, registry, periods, None)
    return _decision(report, rules, registry, calendar, periods, *decided, added)


def explain(
    report: AnyReport, rules: RuleSet, registry: Registry, calendar: Calendar
) -> Explanation:
    """Route a report and say why: each rule tried in order, why it did or did not match.

    Periods are tested at the report's `occurred_at`, its source time, so a replay decides
    the same whatever the clock says; a period the calendar lacks is never active.
    """
    periods = calendar.active_at(report.occurred_at)
    trials: list[Trial] = []
    decided, added = _evaluate(report, rules, registry, periods, trials)
    trials.extend(Trial(rule, RuleOutcome.NOT_TRIED) for rule in rules.rules[len(trials) :])
    decision = _decision(report, rules, registry, calendar, periods, *decided, added)
    return Explanation(report, rules.version, periods, tuple(trials), decision)


def _evaluate(
    report: AnyReport,
    rules: RuleSet,
    registry: Registry,
    periods: frozenset[str],
    trials: list[Trial] | None,
) -> tuple[tuple[Rule, Resolution], list[Rule]]:
    """The deciding rule with its primary, and the continuing rules that matched before it.

    With `trials`, each rule tried is recorded there with every condition it missed.
    """
    added: list[Rule] = []
    for rule in rules.rules:
        misses = _misses(rule, report, registry, periods, every=trials is not None)
        if misses:
            if trials is not None:
                trials.append(Trial(rule, RuleOutcome.NOT_MATCHED, misses))
            continue
        if rule.continues:
            added.append(rule)
            if trials is not None:
                trials.append(Trial(rule, RuleOutcome.ADDED))
            continue
        primary, unresolved = _find_primary(rule, report, registry)
        if trials is not None:
            outcome = RuleOutcome.NOT_MATCHED if primary is None else RuleOutcome.DECIDED
            trials.append(Trial(rule, outcome, unresolved=unresolved))
        if primary is not None:
            return (rule, primary), added
    raise NoRuleMatched(f"no rule of {rules.source} decided report {report.report_id}")


def _misses(
    rule: Rule, report: AnyReport, registry: Registry, periods: frozenset[str], *, every: bool
) -> tuple[Miss, ...]:
    """The conditions the report misses: all of them, or (not `every`) just the first."""
    # A condition on a field the kind lacks cannot even be read, so kind is checked alone first.
    if report.kind not in rule.kinds:
        return (Miss("kind", (report.kind,), rule.kinds),)
    misses = []
    for condition in rule.conditions:
        observed = condition.observe(report, registry, periods)
        if not condition.holds(observed):
            misses.append(Miss(condition.criterion.name, observed, condition.allowed))
            if not every:
                break
    return tuple(misses)


def _find_primary(
    rule: Rule, report: AnyReport, registry: Registry
) -> tuple[Resolution | None, tuple[str, ...]]:
    unresolved: list[str] = []
    for party in rule.primary:
        found = party.resolve(report, registry, None)
        if found.ids:
            return found, tuple(unresolved)
        unresolved.append(found.words or f"{party.ref} found nobody")
    return None, tuple(unresolved)


def _decision(
    report: AnyReport,
    rules: RuleSet,
    registry: Registry,
    calendar: Calendar,
    periods: frozenset[str],
    rule: Rule,
    primary: Resolution,
    added: list[Rule],
) -> RoutingDecision:
    lead = primary.ids[0]
    reasons = [primary.words]

    def resolve(parties: Iterable[Party]) -> list[str]:
        found = [party.resolve(report, registry, lead) for party in parties]
        reasons.extend(f.words for f in found)
        return [enterprise for f in found for enterprise in f.ids]

    # The deciding rule first, then the continuing rules in file order.
    contributors = (rule, *added)
    support = _unique(resolve(p for r in contributors for p in r.support), {lead})
    notified = _unique(resolve(p for r in contributors for p in r.notify), {lead, *support})
    escalation = tuple(
        EscalationLevel(level=n, after=level.after, notify=_unique(resolve(level.notify), set()))
        for n, level in enumerate(rule.escalation, start=1)
    )
    described = [w for r in contributors for w in _matched_words(r, report, calendar, periods)]
    # The deciding rule does not continue, and the loader refuses such a rule without these.
    assert rule.priority is not None, rule.id
    assert rule.ack_within is not None and rule.resolve_within is not None, rule.id
    return RoutingDecision(
        rule_id=rule.id,
        ruleset_version=rules.version,
        registry_version=registry.version,
        primary=lead,
        notified=notified,
        support=support,
        priority=rule.priority,
        ack_within=rule.ack_within,
        resolve_within=rule.resolve_within,
        escalation=escalation,
        reasons=tuple(_clip(r) for r in _unique([*described, *reasons], set())),
    )


def _matched_words(
    rule: Rule, report: AnyReport, calendar: Calendar, periods: frozenset[str]
) -> list[str]:
    words = [f"rule {rule.id}: {rule.description}"]
    for condition in rule.conditions:
        if condition.criterion.name != "period":
            continue
        for name in sorted(periods & condition.allowed):
            period = calendar.period(name)
            assert period is not None, name  # `periods` are the calendar's own names
            # The period, not the minute: decisions must not depend on what routing ignores.
            words.append(f"occurred during {period.describe()}")
    return words


def _unique(items: Iterable[str | None], exclude: set[str]) -> tuple[str, ...]:
    """Items in first-seen order without repeats, Nones or the excluded ones."""
    return tuple(dict.fromkeys(i for i in items if i is not None and i not in exclude))


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
