"""The topic catalog: every Kafka topic's name, partitions and retention, and applying it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.kinds import REPORT_KINDS
from schemas.reports import ReportKind
from services.runtime.errors import TopicDriftError

DAY_MS = 86_400_000
TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
METADATA_WAIT_S = 10.0
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


# Each kind of the table, in its order, is published on a topic of its own: `line_fault` on
# `reports.line-fault`, and so on.
TOPIC_OF_KIND: Mapping[str, str] = {
    spec.kind.value: f"reports.{spec.kind.replace('_', '-')}" for spec in REPORT_KINDS
}
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

CATALOG: tuple[TopicSpec, ...] = (
    *(
        TopicSpec(topic, KEYED_PARTITIONS, INTAKE, f"{kind.replace('_', ' ')} reports as published")
        for kind, topic in TOPIC_OF_KIND.items()
    ),
    TopicSpec(
        ROUTED_REPORTS,
        KEYED_PARTITIONS,
        KEEP_TWO_WEEKS,
        "validated, routed, storm-collapsed reports, keyed by incident key",
    ),
    TopicSpec(
        DEAD_LETTERS, 3, KEEP_NINETY_DAYS, "input that can never be processed, with the reason"
    ),
    TopicSpec(
        INCIDENT_COMMANDS, KEYED_PARTITIONS, KEEP_TWO_WEEKS, "dispatcher commands by incident key"
    ),
    TopicSpec(
        INCIDENT_EVENTS,
        KEYED_PARTITIONS,
        KEEP_FOREVER,
        "the log: lifecycle events by incident key, never deleted",
    ),
    TopicSpec(RULESET_ACTIVATIONS, 1, KEEP_FOREVER, "which rule set was in force from when"),
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


@dataclass
class ApplyResult:
    """What `apply_catalog` found and did."""

    created: list[str] = field(default_factory=list)
    reconfigured: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drift


async def apply_catalog(
    *,
    admin: AIOKafkaAdminClient,
    prefix: str = "",
    replication: int = 1,
    catalog: tuple[TopicSpec, ...] = CATALOG,
) -> ApplyResult:
    """Create missing topics, put back drifted configs, and report what cannot be fixed in place."""
    result = ApplyResult()
    wanted = {topic_name(spec.name, prefix): spec for spec in catalog}
    described = await partitions_of(admin, list(wanted))
    missing = [name for name in wanted if not described.get(name)]
    if missing:
        already = await _create(admin, [(name, wanted[name]) for name in missing], replication)
        result.created.extend(name for name in missing if name not in already)
        # Wait until every new topic's metadata is visible: a service started right after
        # (as `signalpost up` does) would otherwise find no partitions and sit idle until its
        # next metadata refresh. Those created a moment ago by someone else are then checked.
        described.update(await partitions_of(admin, missing, wait=True))
    existing = [name for name in wanted if name not in result.created]
    for name in existing:
        result.drift.extend(_shape_drift(name, described[name], wanted[name], replication))
    configs = await _current_configs(admin, existing)
    for name in existing:
        if _config_differs(configs[name], wanted[name].config):
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, dict(wanted[name].config))]
            )
            result.reconfigured.append(name)
        else:
            result.unchanged.append(name)
    return result


async def partitions_of(
    admin: AIOKafkaAdminClient, names: list[str], *, wait: bool = False
) -> dict[str, list[dict]]:
    """Each topic's partition metadata; empty for a topic the broker does not (yet) show."""
    deadline = time.monotonic() + (METADATA_WAIT_S if wait else 0)
    while True:
        found = (
            {t["topic"]: t["partitions"] for t in await admin.describe_topics(names)}
            if names
            else {}
        )
        if not wait or all(found.get(n) for n in names) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _create(
    admin: AIOKafkaAdminClient, specs: list[tuple[str, TopicSpec]], replication: int
) -> list[str]:
    """Create topics; the names that turned out to exist already."""
    response = await admin.create_topics(
        [
            NewTopic(name, spec.partitions, replication, topic_configs=dict(spec.config))
            for name, spec in specs
        ]
    )
    outcomes = response.to_object()["topic_errors"]
    errors = [
        f"{e['topic']}: {e['error_message']}"
        for e in outcomes
        if e["error_code"] not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if errors:
        raise TopicDriftError("cannot create topics: " + "; ".join(errors))
    return [e["topic"] for e in outcomes if e["error_code"] == TOPIC_ALREADY_EXISTS]


def _shape_drift(name: str, found: list[dict], spec: TopicSpec, replication: int) -> list[str]:
    """Partition count and replication cannot be changed safely in place: report them."""
    problems = []
    partitions = len(found)
    if partitions != spec.partitions:
        problems.append(
            f"{name} has {partitions} partitions, the catalog says {spec.partitions} "
            "(changing the count moves keys between partitions: do it deliberately)"
        )
    replicas = min((len(p["replicas"]) for p in found), default=0)
    if replicas != replication:
        problems.append(f"{name} has replication {replicas}, the settings say {replication}")
    return problems


async def _current_configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            configs[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    return configs


def _config_differs(current: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return any(current.get(key) != value for key, value in wanted.items())
