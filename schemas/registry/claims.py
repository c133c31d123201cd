"""Claims on ids by prefix and by explicit id: who claims an id, and which claims collide."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from schemas.envelope import Identifier, InboundModel
from schemas.located_yaml import Key

__all__ = ["Claim", "Ownership", "overlapping_claims"]

Claimant = TypeVar("Claimant")
# Where a claim is written, "id" or "prefix", the claimed value, and who claims it.
Claim = tuple[Key, str, str, str]


class Ownership(InboundModel):
    """Ids owned by an enterprise: every id starting with a prefix, and explicit ids."""

    prefixes: tuple[Identifier, ...] = ()
    ids: tuple[Identifier, ...] = ()

    def claims(self, at: Key, claimant: str) -> list[Claim]:
        """Each id and prefix as a claim of `claimant`, located under `at`."""
        return [
            *(((*at, "ids", j), "id", x, claimant) for j, x in enumerate(self.ids)),
            *(((*at, "prefixes", j), "prefix", x, claimant) for j, x in enumerate(self.prefixes)),
        ]


class _OwnerIndex(Generic[Claimant]):
    """Finds the claimant of an id: an explicit id first, then the longest matching prefix."""

    def __init__(self, claims: Iterable[tuple[Claimant, Ownership]]) -> None:
        self.exact: dict[str, Claimant] = {}
        self.prefixes: list[tuple[str, Claimant]] = []
        for claimant, ownership in claims:
            self.exact.update(dict.fromkeys(ownership.ids, claimant))
            self.prefixes.extend((prefix, claimant) for prefix in ownership.prefixes)
        self.prefixes.sort(key=lambda claim: -len(claim[0]))

    def owner(self, asset_id: str) -> Claimant | None:
        if asset_id in self.exact:
            return self.exact[asset_id]
        return next((e for prefix, e in self.prefixes if asset_id.startswith(prefix)), None)


def overlapping_claims(claims: list[Claim]) -> Iterator[tuple[Key, str]]:
    """Each claim that takes an id another claimant already claims (by id or by prefix)."""
    for n, (at, how, value, owner) in enumerate(claims):
        for _, other_how, other, other_owner in claims[:n]:
            if other_owner == owner:
                continue
            if (
                value == other
                or (other_how == "prefix" and value.startswith(other))
                or (how == "prefix" and other.startswith(value))
            ):
                yield at, f"{how} {value!r} overlaps {other_how} {other!r} of {other_owner}"
