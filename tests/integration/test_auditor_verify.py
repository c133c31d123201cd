"""Verify against the real broker and database: an intact history passes, every tampering shows."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from schemas.example_reports import TOPIC_OF_KIND, encoded, report
from schemas.registry import load_registry
from schemas.rulesets import RuleSetActivated
from services.auditor import access
from services.auditor.replay import replay
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime import db
from services.runtime.topics import topic_name
from tests.support.audit_history import START, publish_history, record_all, scenario
from tests.support.audit_history import activation as sample_activation
from tests.support.kafka_io import publish

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
NOW = datetime.now(UTC) + timedelta(hours=1)


def activation(rules, at: datetime, source: str, text: str | None = None) -> RuleSetActivated:
    return sample_activation(rules, REGISTRY, at, source, text=text)


async def record(settings, pool: asyncpg.Pool, histories, activations) -> None:
    """Publish reports, activations and events as the services would, and record them all."""
    count = await publish_history(settings, histories, activations)
    await record_all(settings, events=count, rule_sets=len(activations))


def auditor(settings, **more) -> AuditorSettings:
    return AuditorSettings.model_validate(settings.model_dump() | more)


@pytest.fixture
async def recorded(topics, database):
    """Twelve incidents routed with the reference rules, recorded."""
    history = scenario(12, rules=RULES, registry=REGISTRY)
    start = [activation(RULES, START - timedelta(hours=1), str(REFERENCE_RULES))]
    await record(topics, database, [history], start)
    return history


async def owner_execute(settings, sql: str, *args) -> None:
    """Change the live tables as their owner: what verify must catch."""
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def test_an_intact_history_verifies(topics, recorded):
    result = await verify(auditor(topics), now=NOW)

    assert result.findings == []
    assert result.events == len(recorded.events) and result.incidents == 12
    assert result.anchored == result.events
    assert result.reports == 12 and result.decisions == 12 and result.rule_sets >= 1


async def test_edited_deleted_and_reordered_rows_are_each_found(topics, recorded):
    await owner_execute(
        topics,
        "UPDATE incident_events SET event = jsonb_set(event, '{summary}', '\"nothing\"')"
        " WHERE incident_id = (SELECT min(incident_id) FROM incidents) AND sequence = 1",
    )
    await owner_execute(
        topics,
        "DELETE FROM incident_events WHERE incident_id = (SELECT min(incident_id) FROM incidents"
        " WHERE incident_id > (SELECT min(incident_id) FROM incidents)) AND sequence = 2",
    )
    third = "(SELECT incident_id FROM incidents ORDER BY incident_id OFFSET 2 LIMIT 1)"
    for old, new in ((2, 1000), (3, 2), (1000, 3)):
        await owner_execute(
            topics,
            f"UPDATE incident_events SET sequence = $2 WHERE incident_id = {third}"
            " AND sequence = $1",
            old,
            new,
        )

    result = await verify(auditor(topics), now=NOW)

    chains = sorted((f.incident, f.reason) for f in result.findings if f.check == "chain")
    (edited,) = [f for f in result.findings if f.check == "anchor"]
    lifecycle = [f for f in result.findings if f.check == "lifecycle"]
    # The deleted row is the one event its input produces that the history lacks.
    (deleted,) = [f for f in lifecycle if f.incident != edited.incident]
    # The edited summary shows again in what the clock derives from it: every warning and
    # escalation of that incident carries the summary the opening event gave it.
    echoes = [f for f in lifecycle if f.incident == edited.incident]
    assert echoes and all(f.reason.endswith("otherwise: field(s) summary") for f in echoes)
    assert len(chains) == 3 and len(result.findings) == 5 + len(echoes), result.findings
    assert " #2 of key " in deleted.reason
    assert deleted.reason.endswith("produces, is not in the recorded history")
    reasons = " | ".join(r for _, r in chains)
    assert "the event was changed" in reasons
    assert "differs from the log" in edited.reason and edited.reason.endswith("field(s) summary")
    assert "sequence 3 where 2 was due" in reasons
    assert "column sequence differs" in reasons
    assert all(f.event != "-" for f in result.findings)


async def test_a_report_with_no_outcome_is_found_by_verify_and_replay(topics, recorded, test_id):
    stray = report("line_fault", "never-routed", **{"alarmed_object.id": "L-STRAY"})
    topic = topic_name(TOPIC_OF_KIND["line_fault"], topics.topic_prefix)
    await publish(topics, topic, [(b"never-routed", encoded(stray))])
    late = auditor(topics, auditor_grace_seconds=0, auditor_replay_schema=f"{test_id}_replay")

    in_flight = await verify(auditor(topics), now=datetime.now(UTC))
    found = await verify(late, now=datetime.now(UTC))
    try:
        replayed = await replay(late, progress_out=io.StringIO(), now=datetime.now(UTC))
    finally:
        conn = await access.connect(late, writable=True)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{test_id}_replay" CASCADE')
        await conn.close()

    assert in_flight.findings == [] and in_flight.in_flight == 1
    (finding,) = found.findings
    assert finding.check == "report" and "never-routed" in finding.reason
    assert finding.event.startswith(topic + ":")
    assert replayed.differences == [] and replayed.unaccounted == [finding]
    assert replayed.reports == 13 and not replayed.ok


async def test_a_rule_set_change_replays_with_the_rules_in_force_at_each_time(
    topics, database, tmp_path
):
    changed = tmp_path / "archive" / "quang-nam-2007-b.yaml"
    changed.parent.mkdir()
    text = REFERENCE_RULES.read_text()
    changed.write_text(text.replace("ack_within: PT5M", "ack_within: PT3M", 1))
    rules_b = load_rule_set(changed, REGISTRY)
    later = START + timedelta(hours=6)
    first = scenario(6, rules=RULES, registry=REGISTRY)
    second = scenario(6, rules=rules_b, registry=REGISTRY, start=later, tag="b")
    moved = str(tmp_path / "gone.yaml")  # the router's file was edited in place since
    await record(
        topics,
        database,
        [first, second],
        [
            activation(RULES, START - timedelta(hours=1), str(REFERENCE_RULES)),
            activation(rules_b, later - timedelta(minutes=1), moved),
        ],
    )
    decisions = {e.decision.ruleset_version for e in second.events if e.type == "incident_routed"}
    assert decisions == {rules_b.version} != {RULES.version}

    with_archive = await verify(auditor(topics, auditor_rules_archive=changed.parent), now=NOW)
    without = await verify(auditor(topics), now=NOW)

    assert with_archive.findings == [] and with_archive.decisions == 12
    assert {f.incident for f in without.findings} == {
        e.incident_id for e in second.events if e.type == "incident_opened"
    }
    assert all("not recorded in the log" in f.reason for f in without.findings)


async def test_a_decision_made_with_rules_never_activated_is_found(topics, database, tmp_path):
    history = scenario(3, rules=RULES, registry=REGISTRY)
    await record(topics, database, [history], [activation(RULES, START + timedelta(days=1), "x")])

    result = await verify(auditor(topics), now=NOW)

    assert {f.check for f in result.findings} == {"ruleset"}
    assert len(result.findings) == 3


async def test_rules_whose_text_the_activation_carries_need_no_archive(topics, database, tmp_path):
    text = REFERENCE_RULES.read_text().replace("ack_within: PT5M", "ack_within: PT4M", 1)
    edited = tmp_path / "edited.yaml"
    edited.write_text(text)
    rules = load_rule_set(edited, REGISTRY)
    history = scenario(3, rules=rules, registry=REGISTRY)
    gone = str(tmp_path / "since-deleted.yaml")
    await record(topics, database, [history], [activation(rules, START, gone, text)])
    edited.unlink()

    result = await verify(auditor(topics), now=NOW)

    assert result.findings == [] and result.decisions == 3
