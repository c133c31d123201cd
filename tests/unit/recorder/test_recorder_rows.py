"""Events become chained timeline rows once each; bad ones are set aside with the reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.chain import GENESIS_HASH, canonical_json, chain_hash, verify_chain
from schemas.contracts import INCIDENT_EVENT
from services.recorder.rows import Decoded, Poison, decode_message, plan_events, sort_out
from tests.support.recorder_messages import decoded, record, story

pytestmark = pytest.mark.unit


def test_a_story_becomes_rows_chained_from_genesis():
    plan = plan_events(decoded(story()), {}, set())
    assert [r.sequence for r in plan.rows] == list(range(1, 8))
    assert plan.rows[0].prev_hash == GENESIS_HASH
    for before, after in zip(plan.rows, plan.rows[1:], strict=False):
        assert after.prev_hash == before.hash
    for row in plan.rows:
        assert row.hash == chain_hash(row.prev_hash, row.event)
    assert plan.incidents["inc-1"].last_hash == plan.rows[-1].hash
    assert not plan.poison and plan.duplicates == 0


def test_the_rows_of_two_incidents_verify_as_their_chains():
    plan = plan_events(decoded(story(1) + story(2)), {}, set())
    heads = {i: (s.last_sequence, s.last_hash) for i, s in plan.incidents.items()}
    assert verify_chain([r._asdict() for r in plan.rows], heads) is None


def test_rows_keep_the_log_json_with_its_unknown_fields_and_coordinates():
    events = story(steps=1)
    events[0]["added_by_a_newer_writer"] = {"b": 1, "a": [2]}
    (row,) = plan_events(decoded(events, first_offset=41), {}, set()).rows
    assert json.loads(row.event) == events[0]
    assert row.event == canonical_json(json.loads(row.event))  # jsonb gives the same text back
    assert (row.source_topic, row.source_partition, row.source_offset) == (
        "incidents.events",
        0,
        41,
    )


@given(st.integers(min_value=0, max_value=7))
def test_two_batches_chain_exactly_as_one(split):
    items = decoded(story())
    whole = plan_events(items, {}, set())
    first = plan_events(items[:split], {}, set())
    second = plan_events(items[split:], first.incidents, set())
    assert [r.hash for r in first.rows + second.rows] == [r.hash for r in whole.rows]


def test_recorded_or_repeated_event_ids_are_no_ops():
    items = decoded(story())
    first = plan_events(items[:4], {}, set())
    recorded = {r.event_id for r in first.rows}
    # Redelivered from the start, with one event published twice by its producer.
    again = plan_events([*items, items[5]], first.incidents, recorded)
    assert again.duplicates == 5 and not again.poison
    assert [r.sequence for r in again.rows] == [5, 6, 7]


@pytest.mark.parametrize(
    ("sequences", "reason"),
    [((1, 3), "events 2..2 are missing"), ((1, 2, 2), "already recorded by another event")],
)
def test_a_sequence_gap_or_clash_is_poison_and_the_rest_goes_on(sequences, reason):
    events = story(steps=3)
    chosen = [dict(events[s - 1], event_id=f"e{n}") for n, s in enumerate(sequences)]
    other = story(2, steps=2)
    plan = plan_events(decoded(chosen + other), {}, set())
    (poison,) = plan.poison
    assert reason in poison.reason
    assert len(plan.rows) == len(sequences) - 1 + 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"{not json", "invalid_event"),
        (b'{"type": "incident_opened"}', "event_id"),
        ("Điện Bàn".encode("utf-16"), "UTF-8"),
    ],
)
def test_undecodable_messages_are_poison_with_the_reason(value, reason):
    item = decode_message(INCIDENT_EVENT, record(value, offset=9))
    assert isinstance(item, Poison) and reason in item.reason
    assert item.message.offset == 9


def test_sort_out_and_skip_what_is_below_the_stored_offsets():
    events = [json.dumps(e).encode() for e in story(steps=3)]
    messages = [record(v, n, "p.incidents.events") for n, v in enumerate(events)]
    messages.append(record(b"junk", 0, "p.rulesets.activations"))
    batch = sort_out(
        messages,
        {
            "p.incidents.events": "incidents.events",
            "p.rulesets.activations": "rulesets.activations",
        },
    )
    assert len(batch.events) == 3 and len(batch.poison) == 1 and len(batch) == 4
    later = batch.after({("p.incidents.events", 0): 2, ("p.rulesets.activations", 0): 1})
    assert [d.message.offset for d in later.events] == [2] and not later.poison
    assert [len(b) for b in batch.singles()] == [1, 1, 1, 1]
    assert isinstance(batch.singles()[0].events[0], Decoded)
