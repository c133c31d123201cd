"""The bytes-to-bytes glue the faust agent calls: decode, decide, fold, encode."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.codec import MAX_MESSAGE_BYTES, decode, encode
from schemas.commands import AcknowledgeIncident
from schemas.contracts import DEAD_LETTER, INCIDENT_EVENT, TASK
from schemas.envelope import ReportRef
from schemas.example_reports import encoded, report
from schemas.registry import load_registry
from services.incidents import handler
from services.incidents.handler import due_index, dumped, handle
from services.incidents.policy import Policy
from services.router import REFERENCE_RULES, load_rule_set
from services.router.intake import process_batch
from services.runtime.deadletters import RawMessage

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
POLICY = Policy.from_registry(REGISTRY)
T0 = 1179640000000  # ms


def routed():
    message = RawMessage("reports.line-fault", 0, 0, T0, None, encoded(report("line_fault", "a")))
    now = datetime.fromtimestamp(T0 / 1000, tz=UTC)
    return process_batch([message], rules=RULES, registry=REGISTRY, now=now).routed[0]


def step(raw_state, source, value, key, ms=T0):
    return handle(
        raw_state, key=key, source=source, value=value, position=(source, 0, 7, ms), policy=POLICY
    )


def test_a_routed_report_opens_an_incident_and_tasks_every_assignee():
    r = routed()
    result = step(None, "reports.routed", encode(r), r.incident_key.encode())
    types = [decode(INCIDENT_EVENT, e).type for e in result.events]
    assert types[:2] == ["incident_opened", "incident_routed"]
    enterprises = {t.enterprise for t in result.tasks}
    assert {r.decision.primary, *r.decision.notified, *r.decision.support} <= enterprises
    assert all(decode(TASK, t.value).incident_key == r.incident_key for t in result.tasks)
    assert result.state.incident_key == r.incident_key


def test_the_same_input_twice_changes_nothing_and_replays_are_byte_identical():
    r = routed()
    key = r.incident_key.encode()
    first = step(None, "reports.routed", encode(r), key)
    again = step(None, "reports.routed", encode(r), key)
    assert first == again  # a crash before the state write replays into the same bytes
    repeat = step(first.state, "reports.routed", encode(r), key)
    assert repeat.events == () and repeat.state is None


def test_an_acknowledgement_is_applied_and_a_stranger_is_rejected():
    r = routed()
    key = r.incident_key.encode()
    opened = step(None, "reports.routed", encode(r), key)
    state = opened.state

    def ack(by: str, command_id: str) -> bytes:
        return encode(
            AcknowledgeIncident(
                command_id=command_id,
                incident_id=state.incident_id,
                incident_key=r.incident_key,
                issued_by=by,
                issued_at=datetime.fromtimestamp(T0 / 1000 + 60, tz=UTC),
            )
        )

    stranger = step(opened.state, "incidents.commands", ack("viettel-quang-nam", "c1"), key)
    assert [decode(INCIDENT_EVENT, e).type for e in stranger.events] == ["command_rejected"]
    accepted = step(opened.state, "incidents.commands", ack(r.decision.primary, "c2"), key)
    assert "incident_acknowledged" in [decode(INCIDENT_EVENT, e).type for e in accepted.events]


@pytest.mark.parametrize(
    ("source", "value", "key"),
    [
        ("reports.routed", b"{broken", b"k"),
        ("incidents.commands", b'{"type": "fly_away"}', b"k"),
        ("reports.routed", None, b"k"),
        ("reports.routed", b"{}", None),
    ],
)
def test_bad_input_is_a_dead_letter_and_the_state_stays(source, value, key):
    result = step(None, source, value, key)
    assert result.events == () and result.state is None
    [(dead_key, raw)] = result.dead_letters
    letter = decode(DEAD_LETTER, raw)
    assert dead_key == key
    assert letter.rejected_by == "incident-manager" and letter.source.offset == 7
    assert letter.error.problems


def test_the_deadline_index_holds_each_pending_incident_and_its_next_deadline():
    r = routed()
    opened = step(None, "reports.routed", encode(r), r.incident_key.encode())
    later = datetime.fromtimestamp(T0 / 1000 + 24 * 3600, tz=UTC)
    soon = datetime.fromtimestamp(T0 / 1000 + 1, tz=UTC)
    index = due_index([(b"k1", dumped(opened.state)), (b"k2", None)], POLICY)
    assert list(index) == [b"k1"] and index[b"k1"] == opened.due
    assert soon < index[b"k1"] <= later


def test_a_stored_state_that_no_longer_parses_is_a_dead_letter_not_a_crash():
    r = routed()
    result = step(b"\x00not a state", "reports.routed", encode(r), r.incident_key.encode())
    assert result.events == () and result.tasks == () and result.state is None
    [(key, raw)] = result.dead_letters
    letter = decode(DEAD_LETTER, raw)
    assert (letter.rejected_by, letter.error.error) == ("incident-manager", "invalid_state")
    assert key == r.incident_key.encode() and letter.value.to_bytes() == encode(r)


def storm(refs: int):
    """A routed report standing for `refs` more reports of its storm, with long report ids."""
    r = routed()
    collapsed = tuple(
        ReportRef(reported_by=r.report.reported_by, report_id=f"storm-{n:06d}-" + "x" * 100)
        for n in range(refs)
    )
    return r.model_copy(update={"collapsed": collapsed, "count": 1 + refs})


def test_a_routed_report_whose_events_would_be_too_large_is_a_dead_letter():
    # The largest storm that still fits on the routed topic: its events, which name every
    # report that caused them beside their own fields, do not.
    fits = (
        n
        for n in range(1700, 1000, -1)
        if len(storm(n).model_dump_json().encode()) <= MAX_MESSAGE_BYTES
    )
    refs = next(fits)
    r = storm(refs)
    result = step(None, "reports.routed", encode(r), r.incident_key.encode())
    assert result.events == () and result.tasks == () and result.state is None
    [(_, raw)] = result.dead_letters
    letter = decode(DEAD_LETTER, raw)
    assert letter.error.error == "message_too_large"
    assert letter.value.truncated and letter.value.length == len(encode(r))


@pytest.mark.parametrize("part", ["decision", "next_due"])
def test_an_exception_from_the_pure_core_is_a_dead_letter_naming_it(monkeypatch, part):
    def broken(*args, **kwargs):
        raise RuntimeError(f"{part} is broken")

    monkeypatch.setattr(handler, part, broken)
    r = routed()
    result = step(None, "reports.routed", encode(r), r.incident_key.encode())
    assert result.events == () and result.tasks == () and result.state is None
    [(_, raw)] = result.dead_letters
    letter = decode(DEAD_LETTER, raw)
    assert letter.error.error == "processing_failed"
    assert [p.reason for p in letter.error.problems] == [f"RuntimeError: {part} is broken"]


def test_a_dead_letter_for_a_huge_key_is_sent_under_the_key_digest():
    huge = b"k" * (200 * 1024)
    result = step(None, "reports.routed", b"{broken", huge)
    [(key, raw)] = result.dead_letters
    letter = decode(DEAD_LETTER, raw)
    assert letter.key.truncated and key == letter.key.sha256.encode("ascii")
    assert len(raw) < MAX_MESSAGE_BYTES


def test_the_deadline_index_skips_a_state_that_no_longer_parses():
    r = routed()
    opened = step(None, "reports.routed", encode(r), r.incident_key.encode())
    index = due_index([(b"broken", b"\x00"), (b"k1", dumped(opened.state))], POLICY)
    assert index == {b"k1": opened.due}


def closed_by_a_clear():
    """A clear for a key with nothing open: opened and cancelled at once, at T0."""
    message = RawMessage(
        "reports.line-fault",
        0,
        0,
        T0,
        None,
        encoded(report("line_fault", "c", perceived_severity="cleared")),
    )
    now = datetime.fromtimestamp(T0 / 1000, tz=UTC)
    r = process_batch([message], rules=RULES, registry=REGISTRY, now=now).routed[0]
    return r, step(None, "reports.routed", encode(r), r.incident_key.encode())


def test_a_tick_a_retention_after_the_incident_ended_evicts_its_state():
    r, ended = closed_by_a_clear()
    key = r.incident_key.encode()
    leaves = T0 + int(POLICY.retention.total_seconds() * 1000)
    assert ended.due == datetime.fromtimestamp(leaves / 1000, tz=UTC)
    early = step(ended.state, "incidents.ticks", b"tick", key, ms=leaves - 1)
    assert not early.evict and early.state is None
    gone = step(ended.state, "incidents.ticks", b"tick", key, ms=leaves)
    assert gone.evict and (gone.events, gone.state, gone.due) == ((), None, None)


def test_after_eviction_the_key_opens_a_new_incident_with_a_new_id():
    r, ended = closed_by_a_clear()
    first = ended.state
    later = T0 + int(POLICY.retention.total_seconds() * 1000) + 1000
    again = routed()
    reopened = step(None, "reports.routed", encode(again), r.incident_key.encode(), ms=later)
    state = reopened.state
    assert state.incident_key == first.incident_key and state.incidents == 1
    assert state.incident_id != first.incident_id and state.previous_incident_id is None
