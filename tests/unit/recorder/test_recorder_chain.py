"""verify_chain finds the first edited, removed, reordered or rewritten row of a timeline."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from recorder_messages import decoded, story

from services.recorder.rows import canonical_json, chain_hash, plan_events, verify_chain

pytestmark = pytest.mark.unit


def stored_rows() -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """Two incidents' rows as the auditor reads them (event as jsonb text), and their heads."""
    plan = plan_events(decoded(story(1) + story(2)), {}, set())
    heads = {i: (s.last_sequence, s.last_hash) for i, s in plan.incidents.items()}
    return [r._asdict() for r in plan.rows], heads


def test_an_untouched_log_verifies():
    rows, heads = stored_rows()
    assert verify_chain(rows, heads) is None


def test_an_edited_event_is_found():
    rows, heads = stored_rows()
    event = json.loads(rows[5]["event"])
    event["resolution"] = "Không có sự cố"
    rows[5]["event"] = json.dumps(event)
    broken = verify_chain(rows, heads)
    assert (broken.event_id, broken.reason) == (
        "inc-1:6",
        "hash does not match the event: the event was changed",
    )


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link():
    rows, heads = stored_rows()
    event = json.loads(rows[3]["event"])
    event["occurred_at"] = "2007-05-20T00:01:00+00:00"
    rows[3]["event"] = json.dumps(event)
    rows[3]["hash"] = chain_hash(rows[3]["prev_hash"], canonical_json(event))
    broken = verify_chain(rows, heads)
    assert broken.event_id == "inc-1:5" and "prev_hash" in broken.reason


@given(st.integers(min_value=0, max_value=13))
def test_any_removed_row_is_found(index):
    rows, heads = stored_rows()
    removed = rows.pop(index)
    broken = verify_chain(rows, heads)
    assert broken is not None and broken.incident_id == removed["incident_id"]


def test_reordered_rows_are_found():
    rows, heads = stored_rows()
    rows[2], rows[3] = rows[3], rows[2]
    assert "missing or moved" in verify_chain(rows, heads).reason
    rows, heads = stored_rows()
    rows[2]["sequence"], rows[3]["sequence"] = rows[3]["sequence"], rows[2]["sequence"]
    rows[2], rows[3] = rows[3], rows[2]
    assert "column sequence differs" in verify_chain(rows, heads).reason


def test_a_changed_column_is_found():
    rows, heads = stored_rows()
    rows[4]["type"] = "incident_cancelled"
    broken = verify_chain(rows, heads)
    assert broken.sequence == 5 and "column type" in broken.reason
