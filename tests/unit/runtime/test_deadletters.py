"""Dead letters always fit: bytes kept exactly when small, summarised when large, never a raise."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import MAX_MESSAGE_BYTES, decode
from schemas.contracts import DEAD_LETTER
from schemas.errors import ContractError, Problem
from services.runtime.deadletters import (
    KEEP_WHOLE_BYTES,
    RawMessage,
    dead_letter,
    dead_letter_key,
    encode_dead_letter,
    failure,
)

pytestmark = pytest.mark.unit
NOW = datetime(2007, 5, 19, 14, 0, tzinfo=UTC)
ERROR = ContractError("invalid_report", (Problem(field="", reason="not JSON"),))


def letter_of(key: bytes | None, value: bytes | None, error: ContractError = ERROR):
    message = RawMessage("reports.line-fault", 2, 41, 1_179_583_200_000, key, value)
    return dead_letter(message, error, stage="router", now=NOW)


def test_bytes_with_nul_are_kept_as_base64_and_problems_write_it_out() -> None:
    # PostgreSQL's jsonb, where dead letters are recorded, cannot hold U+0000 anywhere.
    error = ContractError("invalid_report", (Problem(field="a\x00b", reason="extra \x00"),))
    letter = letter_of(b"key\x00", b'{"a\x00b": 1}', error)
    assert letter.key.encoding == "base64" and letter.key.to_bytes() == b"key\x00"
    assert letter.value.encoding == "base64" and letter.value.to_bytes() == b'{"a\x00b": 1}'
    assert b"\\u0000" not in encode_dead_letter(letter)  # the JSON escape jsonb refuses
    (problem,) = letter.error.problems
    assert (problem.field, problem.reason) == ("a\\x00b", "extra \\x00")


def test_small_bytes_are_kept_exactly() -> None:
    letter = letter_of(b"k", b"\xff\xfe not utf-8")
    assert letter.value.to_bytes() == b"\xff\xfe not utf-8" and not letter.value.truncated
    assert dead_letter_key(letter) == b"k"
    assert decode(DEAD_LETTER, encode_dead_letter(letter)) == letter


@pytest.mark.parametrize(
    "value",
    [os.urandom(600 * 1024), b"\x01" * 200_000, "Điện Bàn ".encode() * 40_000, b"{" * 900_000],
    ids=["random", "control bytes", "vietnamese text", "deep nesting"],
)
def test_large_bytes_are_summarised_and_the_letter_fits(value: bytes) -> None:
    letter = letter_of(value, value)
    encoded = encode_dead_letter(letter)
    assert len(encoded) <= MAX_MESSAGE_BYTES
    read = decode(DEAD_LETTER, encoded)
    assert read.value.truncated and read.value.length == len(value)
    assert read.value.sha256 == hashlib.sha256(value).hexdigest()
    assert value.startswith(read.value.to_bytes()) and len(read.value.to_bytes()) > 0
    assert dead_letter_key(read) == read.key.sha256.encode()
    assert any("too large to keep" in p.reason for p in read.error.problems)


def test_a_letter_that_cannot_be_encoded_becomes_one_that_says_so() -> None:
    # Fifty problems of 300 characters of control bytes: 90 KB escaped, plus a value whole.
    problems = tuple(Problem(field="\x01" * 300, reason="\x02" * 300) for _ in range(50))
    huge = ContractError("invalid_report", problems * 4)  # 200 problems: far over the limit
    letter = letter_of(None, b"\x03" * KEEP_WHOLE_BYTES, huge)
    read = decode(DEAD_LETTER, encode_dead_letter(letter))
    assert read.value.truncated and read.value.length == KEEP_WHOLE_BYTES
    assert "could not be encoded" in read.error.problems[-1].reason
    assert read.source == letter.source and read.error.error == "invalid_report"


def test_an_unexpected_exception_is_a_clipped_reason() -> None:
    error = failure(RecursionError("maximum recursion depth exceeded" + "!" * 1000))
    assert error.code == "processing_failed"
    (problem,) = error.problems
    assert (
        problem.reason.startswith("RecursionError: maximum recursion")
        and len(problem.reason) <= 300
    )


@settings(max_examples=200, deadline=None)
@given(key=st.none() | st.binary(max_size=2048), value=st.none() | st.binary(max_size=70_000))
def test_any_bytes_make_a_letter_that_reads_back(key, value) -> None:
    read = decode(DEAD_LETTER, encode_dead_letter(letter_of(key, value)))
    for original, kept in ((key, read.key), (value, read.value)):
        if original is None:
            assert kept is None
        elif kept.truncated:
            assert original.startswith(kept.to_bytes()) and kept.length == len(original)
        else:
            assert kept.to_bytes() == original
