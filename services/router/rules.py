"""Routing rule sets: declarative YAML, checked against the registry at load, content-hashed."""

from services.router.criteria import CRITERIA, Condition, Criterion
from services.router.kinds import ALL_KINDS
from services.router.loading import REFERENCE_RULES, load_rule_set
from services.router.parties import RESOLVERS, Party, Resolution, Resolver
from services.router.problems import RuleSetError, RuleSetProblem
from services.router.ruleset import Level, Rule, RuleSet

__all__ = [
    "ALL_KINDS",
    "CRITERIA",
    "REFERENCE_RULES",
    "RESOLVERS",
    "Condition",
    "Criterion",
    "Level",
    "Party",
    "Resolution",
    "Resolver",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "RuleSetProblem",
    "load_rule_set",
]
