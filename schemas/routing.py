"""The router's output: who handles a report, how urgently, and why (reproducible from versions)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from schemas.envelope import (
    ContentHash,
    Identifier,
    IncidentKey,
    Instant,
    LogModel,
    ReportRef,
    ShortText,
    Slug,
    levels_in_order,
)
from schemas.reports import Report

__all__ = [
    "Duration",
    "EscalationLevel",
    "GroupWindow",
    "Priority",
    "RoutedReport",
    "RoutingDecision",
]

Duration = Annotated[
    timedelta, Field(gt=timedelta(0), description="A positive ISO 8601 duration, e.g. PT15M.")
]


class Priority(StrEnum):
    """How urgent an incident is; p1 is the most urgent."""

    P1 = "p1"
    P2 = "p2"
    P3 = "p3"
    P4 = "p4"


class EscalationLevel(LogModel):
    """One step of an escalation chain: whom to tell, how long after a deadline is missed."""

    level: int = Field(ge=1)
    after: timedelta = Field(ge=timedelta(0), description="Delay after the missed deadline.")
    notify: tuple[Slug, ...] = Field(min_length=1, description="Enterprises to tell.")


class RoutingDecision(LogModel):
    """Where a report goes and why; replaying with the same versions must give the same one."""

    rule_id: Identifier
    ruleset_version: ContentHash
    registry_version: ContentHash
    primary: Slug = Field(description="Enterprise that must handle the incident.")
    notified: tuple[Slug, ...] = Field(default=(), description="Enterprises that get a copy.")
    support: tuple[Slug, ...] = Field(default=(), description="Enterprises asked to help.")
    priority: Priority
    ack_within: Duration
    resolve_within: Duration
    escalation: Annotated[tuple[EscalationLevel, ...], AfterValidator(levels_in_order)] = ()
    reasons: tuple[ShortText, ...] = Field(min_length=1, description="Why, in words.")


class GroupWindow(LogModel):
    """The grouping window of the key that a routed report came out of.

    The first reports of a key with no open window are routed at once and open one
    (`started_at` = `ended_at`, the routing time); repeats of the key until the window ends
    are held and routed together as one update, whose window spans from `started_at` to
    `ended_at`: at most `interval`, less when it was closed early (a clear of the key, a cap).
    """

    interval: Duration = Field(description="The router's group interval when it was open.")
    started_at: Instant = Field(description="When the window opened.")
    ended_at: Instant = Field(description="When it stopped taking reports.")


class RoutedReport(LogModel):
    """A valid report with its routing decision, from the router to the incident manager."""

    schema_version: Literal[1] = 1
    incident_key: IncidentKey
    report: Report
    decision: RoutingDecision
    routed_at: Instant
    collapsed: tuple[ReportRef, ...] = Field(
        default=(), description="Reports of the same storm folded into this one."
    )
    count: int = Field(default=1, ge=1, description="Reports this message stands for.")
    first_seen: Instant | None = Field(
        default=None, description="Earliest occurred_at among the reports it stands for."
    )
    last_seen: Instant | None = Field(
        default=None, description="Latest occurred_at among the reports it stands for."
    )
    window: GroupWindow | None = Field(
        default=None, description="The grouping window it came out of; none when grouping is off."
    )
