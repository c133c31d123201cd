"""The canonical form and the hash chain, as schemas/README.md documents them for auditors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.chain import GENESIS_HASH, canonical_json, chain_hash, verify_chain

pytestmark = pytest.mark.unit
README = Path(__file__).parents[3] / "schemas" / "README.md"

# The worked example of schemas/README.md, "The hash chain".
FIRST = {"type": "incident_opened", "sequence": 1, "incident_id": "inc-1",
         "event_id": "inc-1:1", "summary": "Mất điện, Tam Kỳ"}  # fmt: skip
SECOND = {"type": "note_added", "sequence": 2, "incident_id": "inc-1",
          "event_id": "inc-1:2", "note": 'đã gọi "EVN"', "load": 0.5}  # fmt: skip
FIRST_TEXT = (
    '{"event_id":"inc-1:1","incident_id":"inc-1","sequence":1,'
    '"summary":"Mất điện, Tam Kỳ","type":"incident_opened"}'
)
SECOND_TEXT = (
    '{"event_id":"inc-1:2","incident_id":"inc-1","load":0.5,'
    '"note":"đã gọi \\"EVN\\"","sequence":2,"type":"note_added"}'
)
FIRST_HASH = "63e21dbad27060e092717d14839040c81367bdeaa0e84cfad0223d8e115cea41"
SECOND_HASH = "54f9a08a5f69fced824b9d7d7ff6662b86507ff4c5b8af53a9d810a02a275ad1"


def test_the_readme_example_gives_the_digests_it_shows():
    assert (canonical_json(FIRST), canonical_json(SECOND)) == (FIRST_TEXT, SECOND_TEXT)
    assert chain_hash(GENESIS_HASH, FIRST_TEXT) == FIRST_HASH
    assert chain_hash(FIRST_HASH, SECOND_TEXT) == SECOND_HASH
    readme = README.read_text(encoding="utf-8")
    for shown in (FIRST_TEXT, SECOND_TEXT, FIRST_HASH, SECOND_HASH):
        assert shown in readme


def test_a_link_is_sha256_of_the_hex_prev_hash_then_the_utf8_text():
    expected = hashlib.sha256(("0" * 64 + FIRST_TEXT).encode("utf-8")).hexdigest()
    assert GENESIS_HASH == "0" * 64 and chain_hash(GENESIS_HASH, FIRST_TEXT) == expected


def test_the_canonical_form_sorts_keys_and_escapes_only_what_json_must():
    value = {"b": ["/\x7f\u2028", "\x01\n\"\\"], "a": {"\U0001f600": 1, "\uff01": 2.0},
             "é": None, "t": True, "n": [1e16, 1e-05, 10**20]}  # fmt: skip
    assert canonical_json(value) == (
        '{"a":{"！":2.0,"😀":1},"b":["/\x7f\u2028","\\u0001\\n\\"\\\\"],'
        '"n":[1e+16,1e-05,100000000000000000000],"t":true,"é":null}'
    )


finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
)


@given(json_values)
def test_the_canonical_text_reads_back_to_itself(value):
    # What makes the hash recomputable from jsonb: parse and write again, same text.
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


def stored_rows() -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """Two incidents' rows as the auditor reads them (event as jsonb text), and their heads."""
    rows: list[dict[str, Any]] = []
    heads: dict[str, tuple[int, str]] = {}
    for incident in ("inc-1", "inc-2"):
        prev = GENESIS_HASH
        for sequence in range(1, 8):
            event = {"event_id": f"{incident}:{sequence}", "incident_id": incident,
                     "sequence": sequence, "type": "note_added", "note": "Đã gọi"}  # fmt: skip
            text = canonical_json(event)
            row = {**event, "event": text, "prev_hash": prev, "hash": chain_hash(prev, text)}
            rows.append(row)
            prev = row["hash"]
        heads[incident] = (7, prev)
    return rows, heads


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
