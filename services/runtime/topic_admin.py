"""Applying the topic catalog to a broker: create what is missing, put back drifted configs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.runtime.errors import TopicDriftError
from services.runtime.kafka import admin_client
from services.runtime.settings import Settings
from services.runtime.topics import CATALOG, TopicSpec, report_topic_pattern, topic_name

TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
METADATA_WAIT_S = 10.0

# One partition as the admin client describes it: partition, leader, replicas, isr, ...
PartitionMetadata = dict[str, Any]


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


async def ensure_topics(
    settings: Settings, catalog: tuple[TopicSpec, ...], *, prefix: str = ""
) -> ApplyResult:
    """`apply_catalog` on the settings' brokers at their replication factor; drift that
    cannot be fixed in place (partitions, replicas) is a TopicDriftError naming each topic."""
    async with admin_client(settings) as admin:
        result = await apply_catalog(
            admin=admin,
            prefix=prefix,
            replication=settings.topic_replication_factor,
            catalog=catalog,
        )
    if not result.ok:
        raise TopicDriftError("topic drift:\n  " + "\n  ".join(result.drift))
    return result


async def report_topics(settings: Settings) -> list[str]:
    """Every report topic on the brokers under the settings' prefix: the gateway's and each
    onboarded enterprise's own, sorted."""
    pattern = report_topic_pattern(settings.topic_prefix)
    async with admin_client(settings) as admin:
        return sorted(t for t in await admin.list_topics() if pattern.match(t))


async def partitions_of(
    admin: AIOKafkaAdminClient, names: list[str], *, wait: bool = False
) -> dict[str, list[PartitionMetadata]]:
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


def _shape_drift(
    name: str, found: list[PartitionMetadata], spec: TopicSpec, replication: int
) -> list[str]:
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
