"""Anchoring recorded events to the log: what differs, what is missing, what the log dropped."""

from __future__ import annotations

import json

import pytest

from schemas.chain import canonical_json
from services.auditor.checks import anchor_findings, event_difference
from services.auditor.reportlog import LogView

pytestmark = pytest.mark.unit
TOPIC = "t1.incidents.events"
EVENT = {"event_id": "inc-1:1", "incident_id": "inc-1", "sequence": 1, "type": "incident_opened",
         "summary": "Mất điện, Tam Kỳ", "load": 0.5, "extra": {"b": [1, 2], "a": None}}  # fmt: skip


def row(event: dict, partition: int = 0, offset: int = 3, topic: str = TOPIC) -> dict:
    """An incident_events row as verify reads it: the jsonb as PostgreSQL prints it."""
    return {"event_id": event["event_id"], "incident_id": event["incident_id"],
            "event": json.dumps(event, ensure_ascii=False, indent=1), "source_topic": topic,
            "source_partition": partition, "source_offset": offset}  # fmt: skip


def log(values: dict[tuple[int, int], bytes | None], bounds=None) -> LogView:
    return LogView(TOPIC, bounds or {0: (0, 10), 1: (0, 10)}, values)


LOGGED = json.dumps(EVENT).encode()  # other key order, spacing and escapes than the row


def test_the_same_content_in_another_spelling_is_the_same_event():
    assert event_difference(row(EVENT)["event"], LOGGED) is None
    spelled = LOGGED.replace(b'"load": 0.5', b'"load":5.0e-1')
    assert spelled != LOGGED and event_difference(EVENT, spelled) is None


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        ({**EVENT, "summary": "nothing"}, "field(s) summary"),
        ({**EVENT, "load": 1}, "field(s) load"),
        ({**EVENT, "sequence": 1.0}, "field(s) sequence"),
        ({**EVENT, "extra": {"b": [2, 1], "a": None}}, "field(s) extra"),
        ({**EVENT, "forged": True}, "field(s) forged"),
        ({k: v for k, v in EVENT.items() if k != "extra"}, "field(s) extra"),
        ({**{k: 0 for k in "abcdefg"}, **EVENT}, "field(s) a, b, c, d, e and 2 more"),
    ],
    ids=["changed", "int for float", "float for int", "nested order", "added", "removed",
         "many"],
)  # fmt: skip
def test_any_change_of_content_is_named_by_field(recorded, reason):
    assert event_difference(canonical_json(recorded), LOGGED) == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "no value"), (b"{ not json", "not JSON"), (b"[1]", "not a JSON object"),
     (b"[" * 100_000, "not JSON")],
    ids=["tombstone", "not json", "not an object", "deep"],
)  # fmt: skip
def test_a_record_that_is_no_event_differs(value, reason):
    difference = event_difference(canonical_json(EVENT), value)
    assert difference is not None and reason in difference


def test_every_event_at_its_position_is_anchored():
    second = {**EVENT, "event_id": "inc-1:2", "sequence": 2}
    rows = [row(EVENT, 0, 3), row(second, 1, 0)]
    found, anchored = anchor_findings(
        rows, log({(0, 3): LOGGED, (1, 0): json.dumps(second).encode()})
    )
    assert found == [] and anchored == 2


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ((TOPIC, 0, 4), f"not in the log at {TOPIC}:0:4: no record at that offset"),
        ((TOPIC, 0, 10), f"not in the log at {TOPIC}:0:10: the partition ends before it"),
        ((TOPIC, 7, 3), f"not in the log at {TOPIC}:7:3: the topic has no partition 7"),
        (("t1.reports.line-fault", 0, 3), "not in the log at t1.reports.line-fault:0:3: events"
         f" are recorded only from {TOPIC}"),
        ((TOPIC, 1, 3), f"log no longer holds offset {TOPIC}:1:3 (it starts at 5); cannot anchor"),
        ((TOPIC, 0, 2), f"differs from the log at {TOPIC}:0:2: field(s) event_id"),
    ],
    ids=["no record", "past the end", "no partition", "another topic", "dropped", "another event"],
)  # fmt: skip
def test_an_event_the_log_does_not_hold_there_is_found_naming_it(where, reason):
    other = json.dumps({**EVENT, "event_id": "inc-1:9"}).encode()
    view = log({(0, 3): LOGGED, (0, 2): other}, {0: (0, 10), 1: (5, 10)})
    rows = [row(EVENT, 0, 3), row(EVENT, *where[1:], topic=where[0])]

    found, anchored = anchor_findings(rows, view)

    assert anchored == 1
    (finding,) = found
    assert (finding.check, finding.incident, finding.event) == ("anchor", "inc-1", "inc-1:1")
    assert finding.reason.startswith(reason), finding.reason
