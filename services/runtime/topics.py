"""The topic catalog: every Kafka topic's name, partitions and retention (no Kafka client:
pure code reads it; `topic_admin` applies it to a broker)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.kinds import TOPIC_OF_KIND
from schemas.reports import ReportKind

DAY_MS = 86_400_000
# Incident-keyed topics share one partition count so that routed reports and dispatcher
# commands for the same incident land on the same partition (faust co-partitioning).
KEYED_PARTITIONS = 6

KEEP_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
KEEP_TWO_WEEKS = {"cleanup.policy": "delete", "retention.ms": str(14 * DAY_MS)}
# Report topics stamp each record with the broker's clock when it arrives: that is the
# honest `received_at`, kept apart from the publisher's occurred_at and reported_at, and
# the same on every replay.
INTAKE = KEEP_TWO_WEEKS | {"message.timestamp.type": "LogAppendTime"}
KEEP_NINETY_DAYS = {"cleanup.policy": "delete", "retention.ms": str(90 * DAY_MS)}


@dataclass(frozen=True)
class TopicSpec:
    """What one topic must look like."""

    name: str
    partitions: int
    config: Mapping[str, str]
    description: str


# Each kind of the table (schemas/kinds.py), in its order, is published on a topic of its own.
REPORT_TOPICS = tuple(TOPIC_OF_KIND.values())
LINE_FAULT_REPORTS = TOPIC_OF_KIND[ReportKind.LINE_FAULT]
CAPACITY_ALARM_REPORTS = TOPIC_OF_KIND[ReportKind.CAPACITY_ALARM]
SUSPICIOUS_PARCEL_REPORTS = TOPIC_OF_KIND[ReportKind.SUSPICIOUS_PARCEL]
ROUTED_REPORTS = "reports.routed"
DEAD_LETTERS = "reports.dead-letter"
INCIDENT_COMMANDS = "incidents.commands"
INCIDENT_EVENTS = "incidents.events"
INCIDENT_TICKS = "incidents.ticks"
TASK_FEED_PREFIX = "tasks."
RULESET_ACTIVATIONS = "rulesets.activations"
ROSTER_ACTIVATIONS = "rosters.activations"
NOTIFICATION_ATTEMPTS = "notifications.attempts"
NOTIFICATION_DEAD_LETTERS = "notifications.dead-letter"

CATALOG: tuple[TopicSpec, ...] = (
    *(
        TopicSpec(topic, KEYED_PARTITIONS, INTAKE, f"{kind.replace('_', ' ')} reports as published")
        for kind, topic in TOPIC_OF_KIND.items()
    ),
    # Routed reports and commands are the incident manager's inputs, from which `verify`
    # derives the lifecycle again: kept as long as the log they explain.
    TopicSpec(
        ROUTED_REPORTS,
        KEYED_PARTITIONS,
        KEEP_FOREVER,
        "validated, routed, storm-collapsed reports, keyed by incident key",
    ),
    TopicSpec(
        DEAD_LETTERS, 3, KEEP_NINETY_DAYS, "input that can never be processed, with the reason"
    ),
    TopicSpec(
        INCIDENT_COMMANDS, KEYED_PARTITIONS, KEEP_FOREVER, "dispatcher commands by incident key"
    ),
    TopicSpec(
        INCIDENT_EVENTS,
        KEYED_PARTITIONS,
        KEEP_FOREVER,
        "the log: lifecycle events by incident key, never deleted",
    ),
    TopicSpec(RULESET_ACTIVATIONS, 1, KEEP_FOREVER, "which rule set was in force from when"),
    TopicSpec(ROSTER_ACTIVATIONS, 1, KEEP_FOREVER, "which duty rosters were in force from when"),
    TopicSpec(
        NOTIFICATION_ATTEMPTS,
        KEYED_PARTITIONS,
        KEEP_FOREVER,
        "every attempt to tell a person of a task, by incident key",
    ),
    TopicSpec(
        NOTIFICATION_DEAD_LETTERS,
        3,
        KEEP_NINETY_DAYS,
        "notifications that failed at every try, with the endpoint and the last error",
    ),
    TopicSpec(
        INCIDENT_TICKS,
        KEYED_PARTITIONS,
        {"cleanup.policy": "delete", "retention.ms": str(DAY_MS)},
        "timer ticks for incidents with a due deadline, by incident key",
    ),
)


def task_feed(enterprise_id: str) -> str:
    """The task feed of one enterprise: a topic of its own, so a Kafka ACL on the topic name
    (or prefix) can give an enterprise its own tasks and nothing else."""
    return f"{TASK_FEED_PREFIX}{enterprise_id}"


def task_feeds(enterprise_ids: Iterable[str]) -> tuple[TopicSpec, ...]:
    """One feed topic per enterprise, keyed by incident key so a task's versions stay in order."""
    return tuple(
        TopicSpec(task_feed(e), 3, KEEP_NINETY_DAYS, f"tasks for {e}'s dispatchers")
        for e in sorted(enterprise_ids)
    )


def topic_name(name: str, prefix: str = "") -> str:
    """The real topic name of catalog entry `name` under a prefix."""
    return f"{prefix}{name}"


# An enterprise publishing straight onto Kafka does so on report topics of its own, which
# only its principal may write: the topic name is the proof of who published, since Kafka
# puts no principal on a record. The shared report topics above are the gateway's, which
# checks each publisher's token before it writes.
REPORTS_PREFIX = "reports."
ENTERPRISE_REPORT_PARTITIONS = 3
_KIND_OF_SUFFIX = {
    topic.removeprefix(REPORTS_PREFIX): kind for kind, topic in TOPIC_OF_KIND.items()
}


def enterprise_report_topic(enterprise_id: str, kind: str) -> str:
    """The topic on which one enterprise publishes one kind of report itself."""
    return f"{REPORTS_PREFIX}{enterprise_id}.{TOPIC_OF_KIND[kind].removeprefix(REPORTS_PREFIX)}"


def enterprise_report_topics(enterprise_id: str) -> tuple[TopicSpec, ...]:
    """An enterprise's own report topics, one per kind, stamped on arrival like the shared."""
    return tuple(
        TopicSpec(
            enterprise_report_topic(enterprise_id, kind),
            ENTERPRISE_REPORT_PARTITIONS,
            INTAKE,
            f"{kind.replace('_', ' ')} reports published by {enterprise_id} itself",
        )
        for kind in TOPIC_OF_KIND
    )


@functools.lru_cache(maxsize=64)
def report_topic_pattern(prefix: str = "") -> re.Pattern[str]:
    """Every report topic under a prefix, the gateway's and each enterprise's: what the
    router subscribes to. Group 1 is the publishing enterprise (absent: the gateway)."""
    suffixes = "|".join(re.escape(s) for s in _KIND_OF_SUFFIX)
    return re.compile(
        rf"^{re.escape(prefix + REPORTS_PREFIX)}(?:([a-z0-9]+(?:-[a-z0-9]+)*)\.)?({suffixes})$"
    )


@dataclass(frozen=True)
class ReportSource:
    """What a report topic's name says: the kind it carries, and who alone may write it."""

    kind: str  # a ReportKind's value
    publisher: str | None  # the enterprise whose own topic it is; None: the gateway's


def report_source(topic: str, prefix: str = "") -> ReportSource | None:
    """What the name of report topic `topic` says; None if it is no report topic."""
    matched = report_topic_pattern(prefix).match(topic)
    if matched is None:
        return None
    return ReportSource(_KIND_OF_SUFFIX[matched.group(2)], matched.group(1))
