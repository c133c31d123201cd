"""One input of one incident, from bytes to bytes: decode, decide, fold, encode. No I/O.

The faust agent hands every input here with the incident's stored state and publishes
what comes back; keeping this glue free of faust lets the whole path be tested without a
broker, and keeps the agent a few lines long. Nothing an input does escapes from here:
whatever fails for it (its bytes, its stored state, the core, the size of what it would
send) makes it one dead letter, and the rest of its batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import BaseModel

from schemas.codec import MAX_MESSAGE_BYTES, decode, encode
from schemas.contracts import COMMAND, INCIDENT_EVENT, ROUTED_REPORT
from schemas.errors import ContractError, Problem
from schemas.lifecycle import IncidentEvent, IncidentOpened
from services.incidents.deadlines import due_decision, evictable, next_due
from services.incidents.emit import Decided
from services.incidents.machine import decision
from services.incidents.policy import Policy
from services.incidents.state import IncidentState, IncidentStateError
from services.incidents.transitions import apply, holds
from services.runtime.deadletters import (
    RawMessage,
    dead_letter,
    dead_letter_key,
    encode_dead_letter,
    failure,
)
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_TICKS, ROUTED_REPORTS

STAGE = "incident-manager"
LogPosition = tuple[int, int]  # partition and offset in incidents.events
_ROW_START = b'{"log":'
_ROW_HEADROOM = 64  # the row's log position around the state's JSON
# A state grows by less than its events' JSON, which carries each field it sets with more
# besides; twice that and some room bound it without encoding the state at every input.
_GROWTH_SLACK = 8 * 1024


class TaskUpdate(NamedTuple):
    """A task created or changed, encoded, for its enterprise's feed."""

    task_id: str
    enterprise: str
    value: bytes


@dataclass(frozen=True)
class Step:
    """What one input became: encoded events, task updates, dead letters, the new state."""

    events: tuple[bytes, ...] = ()
    tasks: tuple[TaskUpdate, ...] = ()
    dead_letters: tuple[tuple[bytes | None, bytes], ...] = ()  # (Kafka key, letter)
    state: IncidentState | None = None  # None: the stored state stays as it is (unless evicted)
    state_size: int = 0  # at least the bytes of the new state's JSON, which fit in a message
    evict: bool = False  # the key's state leaves the table (its retention is over)
    due: datetime | None = None  # the new state's next deadline, for the timer's index


class _Row(BaseModel):
    log: LogPosition
    state: IncidentState


def encode_row(state: bytes, at: LogPosition) -> bytes:
    """A table row: a state's JSON and where its key's last event is in the log (the ack's)."""
    return b'{"log":[%d,%d],"state":%s}' % (*at, state)


def load_row(raw: bytes | None) -> tuple[IncidentState, LogPosition | None]:
    """A key's stored state and its last event's log position (None: not known)."""
    if raw is None:
        return IncidentState(), None
    if raw.startswith(_ROW_START):
        row = _Row.model_validate_json(raw)
        return row.state, row.log
    # A bare state: written within a batch, or by a version that kept no position.
    return IncidentState.model_validate_json(raw), None


def load_state(raw: bytes | None) -> IncidentState:
    """The stored state of a key, or the empty state of a key never seen."""
    return load_row(raw)[0]


def _stored(raw: bytes | IncidentState | None, size: int | None) -> tuple[IncidentState, int]:
    if isinstance(raw, IncidentState):  # decoded by the agent already
        return raw, len(raw.model_dump_json().encode()) if size is None else size
    try:
        return load_state(raw), 0 if raw is None else len(raw)
    except Exception as exc:  # written by a broken or incompatible version: the input cannot be
        raise failure(exc, code="invalid_state") from exc  # decided from it


def handle(
    stored: bytes | IncidentState | None,
    *,
    stored_size: int | None = None,
    key: bytes | None,
    source: str,
    value: bytes | None,
    position: tuple[str, int, int, int],
    policy: Policy,
) -> Step:
    """Decide what one input means for its incident; an input that fails becomes a dead letter.

    `stored` is the key's table row, or its state already decoded with `stored_size` (at
    least the bytes of its JSON): the agent decodes a key's row once, not at every input.

    `now` is the input's own Kafka timestamp (ticks carry the timer's clock in theirs), so
    reprocessing an input after a crash yields byte-identical events with the same ids.
    """
    now = datetime.fromtimestamp(position[3] / 1000, tz=UTC)
    try:
        return _step(stored, stored_size, key, source, value, now, policy)
    except Exception as exc:  # one input's failure must cost that input only
        error = exc if isinstance(exc, ContractError) else failure(exc)
        letter = dead_letter(RawMessage(*position, key, value), error, stage=STAGE, now=now)
        return Step(dead_letters=((dead_letter_key(letter), encode_dead_letter(letter)),))


def _step(
    stored: bytes | IncidentState | None,
    stored_size: int | None,
    key: bytes | None,
    source: str,
    value: bytes | None,
    now: datetime,
    policy: Policy,
) -> Step:
    state, size = _stored(stored, stored_size)
    decided, evict = decided_input(
        state, key=key, source=source, value=value, now=now, policy=policy
    )
    if evict:
        return Step(evict=True)
    events = tuple(encode(e) for e in decided.events)
    if events:
        size += 2 * sum(len(e) for e in events) + _GROWTH_SLACK
        if size + _ROW_HEADROOM > MAX_MESSAGE_BYTES:  # it might not fit: measure it
            size = len(dumped(decided.state))
    return Step(
        events=events,
        tasks=tuple(TaskUpdate(t.task_id, t.enterprise, encode(t)) for t in decided.tasks.values()),
        state=decided.state if events else None,
        state_size=size,
        due=next_due(decided.state, policy),
    )


def dumped(state: IncidentState) -> bytes:
    """A state's JSON for its table row; refused (state_too_large) when no row could hold it."""
    # The changelog is a Kafka topic too: a row it refuses would stop the agent at the write.
    raw = state.model_dump_json().encode()
    if len(raw) + _ROW_HEADROOM > MAX_MESSAGE_BYTES:
        reason = f"the incident's state would be {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}"
        raise ContractError("state_too_large", (Problem(field="", reason=reason),))
    return raw


def decide_input(
    state: IncidentState,
    *,
    key: bytes | None,
    source: str,
    value: bytes | None,
    now: datetime,
    policy: Policy,
) -> tuple[list[IncidentEvent], bool]:
    """The events one input from topic `source` (a catalog name) causes from `state` at `now`,
    and whether the key's state leaves the table instead; raises for an input that cannot be
    decided (the agent makes it a dead letter). The auditor re-derives history with it."""
    decided, evict = decided_input(
        state, key=key, source=source, value=value, now=now, policy=policy
    )
    return decided.events, evict


def decided_input(
    state: IncidentState,
    *,
    key: bytes | None,
    source: str,
    value: bytes | None,
    now: datetime,
    policy: Policy,
) -> tuple[Decided, bool]:
    """`decide_input`'s decision with the state after its events and the tasks they changed."""
    if key is None or value is None:
        missing = "key" if key is None else "value"
        raise ContractError(
            "invalid_input", (Problem(field="", reason=f"message has no {missing}"),)
        )
    if source == ROUTED_REPORTS:
        decided = decision(state, decode(ROUTED_REPORT, value), now, policy=policy)
    elif source == INCIDENT_COMMANDS:
        decided = decision(state, decode(COMMAND, value), now, policy=policy)
    elif source == INCIDENT_TICKS:
        decided = due_decision(state, now, policy=policy)
    else:
        reason = f"unexpected topic {source}"
        raise ContractError("invalid_input", (Problem(field="", reason=reason),))
    evict = not decided.events and source == INCIDENT_TICKS and evictable(state, now, policy=policy)
    return decided, evict


def due_index(items: Iterable[tuple[bytes, bytes | None]], policy: Policy) -> dict[bytes, datetime]:
    """Each stored incident's next deadline, read once from the table after a (re)start.

    A state that no longer parses has no deadline here: each input of its key is a dead
    letter saying why, and the timer must go on for every other key.
    """
    index = {}
    for key, raw in items:
        try:
            deadline = None if raw is None else next_due(load_state(raw), policy)
        except Exception:
            continue
        if deadline is not None:
            index[key] = deadline
    return index


@dataclass(frozen=True)
class LogRecord:
    """One record of incidents.events, read back."""

    key: bytes | None
    partition: int
    offset: int
    value: bytes | None


@dataclass
class CaughtUp:
    """Stored states brought up to the log: the rows to write, their deadlines, and counts."""

    rows: dict[bytes, bytes] = field(default_factory=dict)
    due: dict[bytes, datetime | None] = field(default_factory=dict)
    folded: int = 0  # events the stored states did not hold yet
    held: int = 0  # events they held already (repeats, earlier incidents)
    unusable: int = 0  # records that are no event of theirs, or do not follow them


def catch_up(
    stored: Callable[[bytes], bytes | None], records: Iterable[LogRecord], *, policy: Policy
) -> CaughtUp:
    """Fold into each key's stored state every event of the log after the state's own last one.

    `records` are a partition of incidents.events in log order, from any point at or before
    the first event whose state might not have been written (a crash between a batch's acks
    and its state writes). Events at or before a row's own position are held already; later
    ones are folded unless the state holds them (`holds`). A row with no position (written by
    a version that kept none) takes no new incident, only later events of its current one; a
    row that no longer parses takes nothing (each input of its key is a dead letter). No I/O.
    """
    out = CaughtUp()
    keys: dict[bytes, _Key] = {}
    for record in records:
        if record.key is None or record.value is None:
            out.unusable += 1
            continue
        if record.key not in keys:
            keys[record.key] = _Key.of(stored(record.key))
        key = keys[record.key]
        if key.state is None:
            out.unusable += 1
        elif key.holds_position(record):
            out.held += 1
        else:
            _fold_record(key, record, out)
    for raw_key, key in keys.items():
        if key.changed:
            # A parsed state that has had an event folded in, at that event's position.
            assert key.state is not None and key.at is not None
            try:
                out.rows[raw_key] = encode_row(dumped(key.state), key.at)
            except ContractError:  # too large for the changelog: its inputs say so
                continue
            out.due[raw_key] = next_due(key.state, policy)
    return out


@dataclass
class _Key:
    state: IncidentState | None  # None: the stored row no longer parses
    at: LogPosition | None
    positioned: bool  # False: a row of a version that kept no position
    changed: bool = False

    @classmethod
    def of(cls, raw: bytes | None) -> _Key:
        try:
            state, at = load_row(raw)
        except Exception:
            return cls(None, None, positioned=False)
        return cls(state, at, positioned=raw is None or at is not None)

    def holds_position(self, record: LogRecord) -> bool:
        at = self.at
        return at is not None and at[0] == record.partition and record.offset <= at[1]


def _fold_record(key: _Key, record: LogRecord, out: CaughtUp) -> None:
    # catch_up folds only records with a value into states that parsed.
    assert key.state is not None and record.value is not None
    try:
        event = decode(INCIDENT_EVENT, record.value)
        if holds(key.state, event) or (not key.positioned and isinstance(event, IncidentOpened)):
            out.held += 1
        else:
            key.state = apply(key.state, event)
            key.changed = True
            out.folded += 1
    except (ContractError, IncidentStateError):
        out.unusable += 1
        return
    key.at = (record.partition, record.offset)
