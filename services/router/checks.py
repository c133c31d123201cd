"""Checks of a whole compiled rule set: no rule shadowed by an earlier one, every kind covered."""

from __future__ import annotations

from schemas.registry import Registry
from services.router.kinds import ALL_KINDS
from services.router.problems import Where
from services.router.ruleset import Rule

__all__ = ["check_coverage", "check_shadowing"]


def _subsumes(earlier: Rule, later: Rule, registry: Registry) -> bool:
    """Whether `earlier` matches every report `later` matches (a sound, not complete, test)."""
    if earlier.continues or not earlier.always_finds_primary or not earlier.kinds >= later.kinds:
        return False
    theirs = {c.criterion.name: c for c in later.conditions}
    for mine in earlier.conditions:
        other = theirs.get(mine.criterion.name)
        if other is None and mine.constrains(registry):
            return False
        if other is not None and not other.allowed <= mine.allowed:
            return False
    return True


def check_shadowing(rules: tuple[Rule, ...], registry: Registry, where: Where) -> None:
    """Record each rule that never matches because an earlier rule always matches first."""
    for n, later in enumerate(rules):
        earlier = next((e for e in rules[:n] if _subsumes(e, later, registry)), None)
        if earlier is not None:
            # Shadowing is checked only when every rule compiled, so `n` is its place in the file.
            where.add(
                ("rules", n),
                f"never matches: earlier rule {earlier.id} (line {earlier.line})"
                " always matches first",
            )


def check_coverage(rules: tuple[Rule, ...], registry: Registry, where: Where) -> None:
    """Record each report kind that no rule covers, or that no catch-all rule ends."""
    # Totality: each kind needs a last resort, a terminal rule that nothing can stop matching.
    for kind in sorted(ALL_KINDS):
        if not any(kind in r.kinds for r in rules):
            where.add(("rules",), f"no rule covers report kind {kind}")
        elif not any(
            kind in r.kinds
            and not r.continues
            and r.always_finds_primary
            and not any(c.constrains(registry) for c in r.conditions)
            for r in rules
        ):
            where.add(
                ("rules",),
                f"no catch-all rule for {kind}: add a last rule with only `kind: {kind}`"
                " and a primary that always resolves",
            )
