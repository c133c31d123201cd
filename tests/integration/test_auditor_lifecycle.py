"""Verify derives the lifecycle again from the incident manager's inputs: an event its inputs do
not produce, written onto the log with the services' own credentials, is found, and so is an
event an input produces that the history lacks (real broker, real database)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from schemas.codec import encode
from schemas.envelope import ReportRef
from schemas.lifecycle import Cause, DuplicateLinked, IncidentEvent, IncidentOpened
from schemas.registry import load_registry
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.incidents.ids import event_id
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_EVENTS, ROUTED_REPORTS, topic_name
from tests.support.audit_history import record_all, recorded_scenario
from tests.support.kafka_io import publish

pytestmark = pytest.mark.integration
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
NOW = datetime.now(UTC) + timedelta(hours=1)
INCIDENTS = 6


@pytest.fixture
async def recorded(topics, database):
    """Six incidents routed, acknowledged and resolved, their inputs published, recorded."""
    return await recorded_scenario(
        topics, INCIDENTS, rules=RULES, registry=REGISTRY, source=str(REFERENCE_RULES)
    )


async def verified(settings):
    """What verify finds, as the auditor would run it on this test's topics and schema."""
    return await verify(AuditorSettings.model_validate(settings.model_dump()), now=NOW)


def last_of(history, number: int) -> tuple[IncidentOpened, IncidentEvent]:
    """The opening and the last event of the history's `number`-th incident."""
    opened = [e for e in history.events if isinstance(e, IncidentOpened)][number]
    last = [e for e in history.events if e.incident_id == opened.incident_id][-1]
    return opened, last


def linked(opened: IncidentOpened, last: IncidentEvent, ref: ReportRef) -> DuplicateLinked:
    """What an outsider would write: the next sequence, a well-made id, a plausible cause."""
    sequence = last.sequence + 1
    cause = f"report:{ref.reported_by}:{ref.report_id}"
    return DuplicateLinked(
        event_id=event_id(opened.incident_id, sequence, "duplicate_linked", cause),
        incident_key=opened.incident_key,
        incident_id=opened.incident_id,
        sequence=sequence,
        occurred_at=last.occurred_at + timedelta(minutes=1),
        actor=last.actor,
        caused_by=Cause(reports=(ref,)),
        report=opened.report.model_copy(update={"report_id": ref.report_id}),
    )


async def test_a_clean_history_is_derived_again_event_for_event(topics, recorded):
    result = await verified(topics)

    assert result.findings == []
    assert result.rederived == result.events == len(recorded.events)


async def test_events_produced_onto_the_log_with_the_services_credentials_are_found(
    topics, recorded
):
    # The services' own Kafka settings: what a stolen incident-manager credential gives.
    first, first_last = last_of(recorded, 0)
    second, second_last = last_of(recorded, 1)
    made_up = ReportRef(reported_by=first.report.reported_by, report_id="never-sent")
    opening = ReportRef(reported_by=second.report.reported_by, report_id=second.report.report_id)
    forged = [linked(first, first_last, made_up), linked(second, second_last, opening)]
    # The second names its incident's opening report, sent again as a router redelivery would.
    key = second.incident_key.encode()
    (resent,) = [(k, v) for t, k, v, _ in recorded.inputs if t == ROUTED_REPORTS and k == key]
    await publish(topics, topic_name(ROUTED_REPORTS, topics.topic_prefix), [resent])
    log = topic_name(INCIDENT_EVENTS, topics.topic_prefix)
    await publish(topics, log, [(e.incident_key.encode(), encode(e)) for e in forged])
    await record_all(topics, events=len(recorded.events) + 2, rule_sets=1)

    result = await verified(topics)

    by_event = {f.event: f for f in result.findings}
    assert set(by_event) == {e.event_id for e in forged}, result.findings
    assert {f.check for f in result.findings} == {"lifecycle"}  # chained and anchored
    assert result.anchored == result.events == len(recorded.events) + 2
    assert result.rederived == len(recorded.events)
    for event in forged:
        finding = by_event[event.event_id]
        assert finding.incident == event.incident_id
        assert finding.reason.startswith(
            f"duplicate_linked #{event.sequence} of key {event.incident_key} (log {log}:"
        )
    assert by_event[forged[0].event_id].reason.endswith(
        f"it names report:{made_up.reported_by}:never-sent, which no message of reports.routed"
        " after those decided carries"
    )
    # Its opening report was decided already: decided again, the copy is a repeat.
    routed = re.escape(topic_name(ROUTED_REPORTS, topics.topic_prefix))
    assert re.search(
        f"its input {routed}:[0-9]+:[0-9]+ produces nothing here$",
        by_event[forged[1].event_id].reason,
    )


async def test_a_command_whose_events_the_history_lacks_is_found(topics, recorded):
    opened, last = last_of(recorded, 2)
    command = {
        "type": "add_note",
        "command_id": f"{opened.incident_id}:note:lost",
        "incident_id": opened.incident_id,
        "incident_key": opened.incident_key,
        "issued_by": last.enterprise,
        "issued_at": last.occurred_at.isoformat(),
        "text": "Parts ordered.",
    }
    commands = topic_name(INCIDENT_COMMANDS, topics.topic_prefix)
    await publish(topics, commands, [(opened.incident_key.encode(), json.dumps(command).encode())])

    result = await verified(topics)

    (finding,) = result.findings
    assert (finding.check, finding.incident) == ("lifecycle", opened.incident_id)
    assert finding.reason.startswith(
        f"note_added #{last.sequence + 1} of key {opened.incident_key}"
    )
    assert finding.reason.endswith("produces, is not in the recorded history")
    assert f"which {commands}:" in finding.reason
