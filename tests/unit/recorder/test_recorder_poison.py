"""Any exception about one record sets that record aside with its reason; the rest go on."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, field_validator

from schemas.contracts import Contract
from services.recorder.rows import REASON_MAX, Decoded, Poison, decode_message, plan_events
from tests.support.recorder_messages import decoded, record, story

pytestmark = pytest.mark.unit


class Fragile(BaseModel):
    """A contract whose validator has a bug: it raises what pydantic does not wrap."""

    n: int

    @field_validator("n")
    @classmethod
    def _check(cls, n: int) -> int:
        if n < 0:
            raise RuntimeError("validator bug " + "x" * 5000)
        return n


FRAGILE = Contract("fragile", Fragile, "invalid_fragile")


def test_an_unexpected_exception_while_decoding_is_poison_with_type_and_message():
    item = decode_message(FRAGILE, record(b'{"n": -1}', offset=3))
    assert isinstance(item, Poison)
    assert item.reason.startswith("cannot be decoded: RuntimeError: validator bug xxx")
    assert len(item.reason) == REASON_MAX
    assert item.message.offset == 3
    assert isinstance(decode_message(FRAGILE, record(b'{"n": 1}')), Decoded)


def with_type(item: Decoded, event_type: str) -> Decoded:
    """The event as a newer writer might send it: a type this projection does not know."""
    return Decoded(item.message, item.model.model_copy(update={"type": event_type}), item.canonical)


def test_an_event_the_projection_cannot_apply_is_poison_and_the_batch_goes_on():
    first, second = decoded(story(1)), decoded(story(2), first_offset=7)
    first[-1] = with_type(first[-1], "incident_archived")
    plan = plan_events([*first, *second], {}, set())

    (poison,) = plan.poison
    assert poison.message.offset == 6
    assert poison.reason == "cannot be recorded: KeyError: 'incident_archived'"
    assert [(r.incident_id, r.sequence) for r in plan.rows] == [
        *(("inc-1", n) for n in range(1, 7)),
        *(("inc-2", n) for n in range(1, 8)),
    ]
    # Nothing of the refused event reached the projection: the incident stands at sequence 6.
    assert plan.incidents["inc-1"].last_sequence == 6
    assert plan.incidents["inc-1"].last_hash == plan.rows[5].hash
