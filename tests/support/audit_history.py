"""A believable history for tests and benchmarks, made by the real pure cores.

Reports are routed by the router's engine with a real rule set and handled by the incident
manager's state machine (acknowledged, resolved, some escalated on the way), so the log it
produces verifies and replays like one the services wrote. The incident manager's inputs
(routed reports, commands) are published too, stamped with the times they were decided at,
so that verify can derive the history again from them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.codec import decode, encode
from schemas.contracts import COMMAND, REPORT
from schemas.envelope import Actor, ActorKind
from schemas.example_reports import TOPIC_OF_KIND, report
from schemas.lifecycle import IncidentEvent
from schemas.registry import REFERENCE_REGISTRY, Registry, load_rosters
from schemas.rulesets import RuleSetActivated
from services.incidents import (
    IncidentState,
    Policy,
    PolicySettings,
    decide,
    decide_due,
    fold,
    next_due,
)
from services.recorder.service import build
from services.recorder.settings import RecorderSettings
from services.router import RuleSet, collapse, route, routed_report
from services.runtime import db
from services.runtime.kafka import admin_client, make_producer
from services.runtime.rosterlog import history as roster_history
from services.runtime.settings import Settings
from services.runtime.topics import (
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    ROUTED_REPORTS,
    RULESET_ACTIVATIONS,
    topic_name,
)
from tests.support.polling import eventually

START = datetime(2007, 5, 19, 22, 0, tzinfo=UTC)
KINDS = ("line_fault", "capacity_alarm", "suspicious_parcel")
LINE_DISTRICTS = ("tien-phuoc", "tam-ky", "hoi-an", "dai-loc", "nui-thanh")


@dataclass
class History:
    """What a scenario wrote: report messages by topic, the incident manager's inputs (topic,
    key, value, decided at), and the lifecycle events in log order."""

    reports: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    inputs: list[tuple[str, bytes, bytes, datetime]] = field(default_factory=list)
    events: list[IncidentEvent] = field(default_factory=list)

    def decided(self, topic: str, message: Any, at: datetime) -> None:
        """An input of the incident manager's, decided at `at`."""
        self.inputs.append((topic, message.incident_key.encode(), encode(message), at))

    def event_messages(self) -> list[tuple[bytes, bytes]]:
        """(key, value) of each event, as the incident manager publishes it."""
        return [(e.incident_key.encode(), encode(e)) for e in self.events]


def sample_report(number: int, at: datetime, *, tag: str = "") -> dict[str, Any]:
    """Report `number` of a scenario: the kinds in turn, each about its own line, switch or item."""
    kind = KINDS[number % len(KINDS)]
    rid = f"audit{tag}-{number}"
    times = {"occurred_at": at.isoformat(), "reported_at": (at + timedelta(seconds=20)).isoformat()}
    if kind == "line_fault":
        district = LINE_DISTRICTS[number % len(LINE_DISTRICTS)]
        line = {"alarmed_object.id": f"L{tag}-{number}"}
        return report(kind, rid, district=district, **line, **times)
    if kind == "capacity_alarm":
        return report(kind, rid, **{"alarmed_object.id": f"SW{tag}-{number}"}, **times)
    return report(kind, rid, **{"item.id": f"EE{tag}{number:09d}VN"}, **times)


def _command(kind: str, number: int, state: IncidentState, by: str, at: datetime, **extra: Any):
    return _decoded(
        COMMAND,
        {
            "type": kind,
            "command_id": f"{state.incident_id}:{kind}:{number}",
            "incident_id": state.incident_id,
            "incident_key": state.incident_key,
            "issued_by": by,
            "issued_at": at,
            **extra,
        },
    )


def _steps(number: int) -> tuple[int, int]:
    """Minutes to acknowledge and to resolve: most on time, every fifth one slow."""
    if number % 5 == 4:
        return 45 + number % 30, 300 + 7 * (number % 20)
    return 2 + number % 9, 30 + 11 * (number % 13)


def deployed_policy(registry: Registry) -> Policy:
    """The policy an incident manager built without the log has, and verify falls back to: the
    settings' choices and the reference rosters, in force all along."""
    rosters = load_rosters(REFERENCE_REGISTRY, registry)
    return PolicySettings().policy(registry, roster_history([], otherwise=rosters))


def handle(state: IncidentState, message: Any, now: datetime, policy: Policy):
    """Each timer fires at its due time before `now`, then the message: the manager's order."""
    events: list[IncidentEvent] = []
    while state.incident_id and (due := next_due(state, policy)) is not None and due <= now:
        fired = decide_due(state, due, policy=policy)
        if not fired:
            break
        state = fold(fired, state)
        events += fired
    more = decide(state, message, now, policy=policy)
    return fold(more, state), [*events, *more]


def scenario(
    count: int,
    *,
    rules: RuleSet,
    registry: Registry,
    start: datetime = START,
    spacing: timedelta = timedelta(minutes=3),
    tag: str = "",
    policy: Policy | None = None,
) -> History:
    """`count` reports from `start`, each routed with `rules` and handled to resolution, under
    `policy` (by default the deployed one)."""
    policy = policy or deployed_policy(registry)
    history = History()
    for number in range(count):
        at = start + spacing * number
        parsed = _sent(history, sample_report(number, at, tag=tag))
        history.events.extend(_life(history, number, parsed, at, rules, registry, policy))
    return history


def cleared_first(
    count: int, *, rules: RuleSet, registry: Registry, start: datetime = START, tag: str = "c"
) -> History:
    """`count` line clears, each on a line with no alarm open: the incident manager opens an
    incident for each and cancels it at once, before any routing (machine.py `_open`)."""
    policy = deployed_policy(registry)
    history = History()
    for number in range(count):
        at = start + timedelta(minutes=3 * number + 1)
        payload = report(
            "line_fault",
            f"audit{tag}-{number}",
            perceived_severity="cleared",
            **{"alarmed_object.id": f"L{tag}-{number}"},
            occurred_at=at.isoformat(),
            reported_at=(at + timedelta(seconds=20)).isoformat(),
        )
        parsed = _sent(history, payload)
        *_, events = _opening(history, parsed, at, rules, registry, policy)
        history.events.extend(events)
    return history


def _sent(history: History, payload: dict[str, Any]) -> Any:
    """The report as published (kept in the history) and as decoded."""
    value = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    topic = TOPIC_OF_KIND[payload["kind"]]
    history.reports.append((topic, payload["report_id"].encode(), value))
    return decode(REPORT, value)


def _opening(history, parsed, at, rules, registry, policy):
    """The report routed and handed to the incident manager: its state, and what it decided."""
    (group,) = collapse([parsed])
    decision = route(parsed, rules, registry, rules.calendar)
    routed = routed_report(group, decision, now=at)
    history.decided(ROUTED_REPORTS, routed, at)
    return decision, *handle(IncidentState(), routed, at, policy)


def _life(history, number, parsed, at, rules, registry, policy) -> Iterator[IncidentEvent]:
    decision, state, events = _opening(history, parsed, at, rules, registry, policy)
    yield from events
    ack, fix = _steps(number)
    primary = decision.primary
    acked = at + timedelta(minutes=ack)
    command = _command("acknowledge_incident", number, state, primary, acked)
    history.decided(INCIDENT_COMMANDS, command, acked)
    state, events = handle(state, command, acked, policy)
    yield from events
    done = at + timedelta(minutes=fix)
    command = _command("resolve_incident", number, state, primary, done, resolution="Fixed.")
    history.decided(INCIDENT_COMMANDS, command, done)
    state, events = handle(state, command, done, policy)
    yield from events


def _decoded(contract, payload: dict[str, Any]) -> Any:
    return decode(contract, json.dumps(payload, default=str).encode("utf-8"))


def activation(
    rules: RuleSet, registry: Registry, at: datetime, source: str, *, text: str | None = None
) -> RuleSetActivated:
    """The router's announcement that `rules` came into force at `at` (with its file's text)."""
    return RuleSetActivated(
        event_id=f"ruleset-activated:{rules.version[-12:]}:{int(at.timestamp())}",
        ruleset_version=rules.version,
        registry_version=registry.version,
        activated_at=at,
        source_file=source[-200:],
        actor=Actor(kind=ActorKind.SERVICE, id="router-sample"),
        rules_text=text,
    )


async def publish_history(
    settings: Settings, histories: list[History], activations: list[RuleSetActivated]
) -> int:
    """Reports, activations, the incident manager's inputs, then events on the settings'
    topics; the number of events."""
    prefix = settings.topic_prefix
    await keep_inputs(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        sends = [
            await producer.send(topic_name(topic, prefix), value, key=key)
            for h in histories
            for topic, key, value in h.reports
        ]
        sends += [
            await producer.send(
                topic_name(topic, prefix), value, key=key, timestamp_ms=int(at.timestamp() * 1000)
            )
            for h in histories
            for topic, key, value, at in h.inputs
        ]
        sends += [
            await producer.send(topic_name(RULESET_ACTIVATIONS, prefix), encode(a), key=b"router")
            for a in activations
        ]
        events = [m for h in histories for m in h.event_messages()]
        sends += [
            await producer.send(topic_name(INCIDENT_EVENTS, prefix), value, key=key)
            for key, value in events
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return len(events)


async def recorded_scenario(
    settings: Settings,
    count: int,
    *,
    rules: RuleSet,
    registry: Registry,
    source: str,
    cleared: int = 0,
) -> History:
    """`count` incidents routed with `rules` (from file `source`, in force an hour before the
    first), and `cleared` cancelled ones (`cleared_first`), their reports, inputs and events
    published, and all of it recorded; the history of the `count`."""
    history = scenario(count, rules=rules, registry=registry)
    histories = [history, cleared_first(cleared, rules=rules, registry=registry)]
    start = activation(rules, registry, START - timedelta(hours=1), source)
    events = await publish_history(settings, histories, [start])
    await record_all(settings, events=events, rule_sets=1)
    return history


async def keep_inputs(settings: Settings) -> None:
    """Keep the input topics' records for ever: they are stamped 2007, and a retention of
    days would drop them at the broker's next retention check, mid-test."""
    keep = {"retention.ms": "-1"}
    async with admin_client(settings) as admin:
        await admin.alter_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topic_name(t, settings.topic_prefix), keep)
                for t in (ROUTED_REPORTS, INCIDENT_COMMANDS)
            ]
        )


async def record_all(
    settings: Settings, *, events: int, rule_sets: int = 0, deadline_s: float = 120
) -> None:
    """Run the recorder (in this process, its own group) until the history is in PostgreSQL."""
    recorder = RecorderSettings.model_validate(
        settings.model_dump() | {"recorder_group_id": f"{settings.db_schema}-recorder"}
    )
    stop = asyncio.Event()
    watcher = await db.connect(settings)
    task = asyncio.create_task(build(recorder).run(stop))

    async def all_recorded() -> bool:
        found = await watcher.fetchrow(
            "SELECT (SELECT count(*) FROM incident_events) AS events,"
            " (SELECT count(*) FROM rule_sets) AS rule_sets"
        )
        return found["events"] >= events and found["rule_sets"] >= rule_sets

    try:
        await eventually(all_recorded, deadline_s=deadline_s, interval_s=0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await watcher.close()
