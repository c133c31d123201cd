"""The recorder's fast canonical text is, character for character, the hash chain's definition."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic_core import from_json

from schemas.chain import canonical_json
from services.recorder.canonical import canonical_text
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.recorder_messages import OPENED

pytestmark = pytest.mark.unit

# Any text (control characters, U+2028, astral planes, quotes), never a lone surrogate, which
# neither parser takes from the log.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def reference(value: bytes) -> str:
    return canonical_json(from_json(value))


@settings(max_examples=400)
@given(VALUES, st.booleans(), st.booleans())
@example({"at": "2007-05-20T07:00:00.123456+00:00", "n": 1}, False, False)
@example({"big": 2**64, "small": -(2**63) - 1, "e": 1e16, "tiny": 1e-7}, False, False)
def test_it_is_the_definitions_text_for_any_json(value, ensure_ascii, spaced):
    separators = (", ", ": ") if spaced else (",", ":")
    data = json.dumps(value, ensure_ascii=ensure_ascii, separators=separators).encode()
    assert canonical_text(data) == reference(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": 1e400}',
        b'{"a": 1, "a": 2}',
        b'{"n": 18446744073709551616}',
        b'{"n": -0, "f": -0.0}',
        b'"1.5 looks like a number"',
        b"[" * 150 + b"]" * 150,
        b"[" + b"[]," * 300 + b"[]]",
    ],
)
def test_what_orjson_reads_or_writes_otherwise_goes_the_definitions_way(data):
    assert canonical_text(data) == reference(data)


def test_lifecycle_events_take_the_fast_way_and_give_the_same_text(monkeypatch):
    texts = [canonical_text(encoded(event)[1]) for event in incident_story(1, OPENED)]
    # Without a float in them, the definition's own way is never taken.
    monkeypatch.setattr("services.recorder.canonical.canonical_json", None)
    assert [canonical_text(encoded(e)[1]) for e in incident_story(1, OPENED)] == texts
    assert texts == [reference(encoded(e)[1]) for e in incident_story(1, OPENED)]


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"",
        "Điện Bàn".encode("utf-16"),
        b"[" * 230 + b"]" * 230,
        b"[" * 300 + b"]" * 300,
    ],
)
def test_bytes_that_are_not_json_raise_as_the_definition_does(data):
    with pytest.raises(ValueError):
        reference(data)
    with pytest.raises(ValueError):
        canonical_text(data)
