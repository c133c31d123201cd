"""Pure: Kafka messages as timeline rows, hash-chained per incident (schemas.chain)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from schemas.chain import GENESIS_HASH, canonical_json, chain_hash
from schemas.codec import decode
from schemas.contracts import (
    DEAD_LETTER,
    INCIDENT_EVENT,
    NOTIFICATION_ATTEMPTED,
    RULESET_ACTIVATED,
    Contract,
)
from schemas.errors import ContractError
from services.recorder.canonical import canonical_text
from services.recorder.projection import IncidentRow, project_event
from services.runtime.topics import (
    DEAD_LETTERS,
    INCIDENT_EVENTS,
    NOTIFICATION_ATTEMPTS,
    RULESET_ACTIVATIONS,
)

# Longest reason kept with a message set aside (recorder_dead_letters.reason).
REASON_MAX = 1000


class Message(Protocol):
    """What the recorder needs of a Kafka record (aiokafka's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Poison:
    """A message that can never be recorded, and why; it goes to recorder_dead_letters."""

    message: Message
    reason: str
    error: dict[str, Any] | None = None


class EventRow(NamedTuple):
    """One row of incident_events, in the table's column order (a tuple, as COPY takes it)."""

    event_id: str
    incident_key: str
    incident_id: str
    sequence: int
    type: str
    occurred_at: datetime
    event: str
    source_topic: str
    source_partition: int
    source_offset: int
    prev_hash: str
    hash: str


EVENT_COLUMNS: tuple[str, ...] = EventRow._fields


@dataclass(frozen=True, slots=True)
class Decoded:
    """A message that met its contract: the model, and the log's JSON in canonical form (the
    text the row keeps and the hash chain covers)."""

    message: Message
    model: Any
    canonical: str


@dataclass
class EventPlan:
    """What one batch of lifecycle events becomes: rows, changed incidents, poison."""

    rows: list[EventRow] = field(default_factory=list)
    incidents: dict[str, IncidentRow] = field(default_factory=dict)
    poison: list[Poison] = field(default_factory=list)
    duplicates: int = 0


def decode_message(contract: Contract[Any], message: Message) -> Decoded | Poison:
    """The message validated against `contract`, or the reason it never can be."""
    if message.value is None:
        return Poison(message, "tombstone: a message without a value")
    try:
        model = decode(contract, message.value)
        # The row keeps the log's JSON, not the model's dump: an older recorder meeting fields
        # a newer writer added must not drop them from the permanent record.
        canonical = canonical_text(message.value)
    except ContractError as exc:
        return Poison(message, str(exc)[:REASON_MAX], exc.to_dict())
    except Exception as exc:  # a bug meeting one record must not stop the whole recorder
        return Poison(message, failure("cannot be decoded", exc))
    return Decoded(message, model, canonical)


def failure(what: str, exc: Exception) -> str:
    """The reason a record is set aside after an unexpected exception: type and message."""
    return f"{what}: {type(exc).__name__}: {exc}"[:REASON_MAX]


def plan_events(
    decoded: Iterable[Decoded],
    incidents: Mapping[str, IncidentRow],
    recorded_ids: set[str],
) -> EventPlan:
    """Chain and project a batch of events, in log order, onto the incidents as they stand."""
    plan = EventPlan()
    seen = set(recorded_ids)
    for item in decoded:
        event, message = item.model, item.message
        if event.event_id in seen:
            # Recording the same event id twice is a no-op (a producer's retry, a replay).
            plan.duplicates += 1
            continue
        state = plan.incidents.get(event.incident_id) or incidents.get(event.incident_id)
        try:
            planned = _chain(item, state)
        except Exception as exc:  # one event the core cannot take costs that event only
            planned = Poison(message, failure("cannot be recorded", exc))
        if isinstance(planned, Poison):
            plan.poison.append(planned)
            continue
        row, plan.incidents[event.incident_id] = planned
        plan.rows.append(row)
        seen.add(event.event_id)
    return plan


def _chain(item: Decoded, state: IncidentRow | None) -> tuple[EventRow, IncidentRow] | Poison:
    """The event's row chained to its incident's last one and the incident after it."""
    event, message = item.model, item.message
    expected = state.last_sequence + 1 if state else 1
    if event.sequence != expected:
        return Poison(message, _sequence_problem(event, expected))
    canonical = item.canonical
    prev_hash = state.last_hash if state else GENESIS_HASH
    digest = chain_hash(prev_hash, canonical)
    row = EventRow(
        event.event_id,
        event.incident_key,
        event.incident_id,
        event.sequence,
        event.type,
        event.occurred_at,
        canonical,
        message.topic,
        message.partition,
        message.offset,
        prev_hash,
        digest,
    )
    return row, project_event(state, event, digest)


def _sequence_problem(event: Any, expected: int) -> str:
    where = f"incident {event.incident_id} event {event.event_id} has sequence {event.sequence}"
    if event.sequence < expected:
        return f"{where}, already recorded by another event (next expected: {expected})"
    missing = f"{expected}..{event.sequence - 1}"
    return f"{where}, but {expected} is the next one: events {missing} are missing"


def dead_letter_row(item: Decoded) -> tuple[Any, ...]:
    """A dead_letters row from a dead-letter message that met its contract."""
    letter, message = item.model, item.message
    return (
        message.topic,
        message.partition,
        message.offset,
        letter.source.topic,
        letter.source.partition,
        letter.source.offset,
        letter.rejected_by,
        letter.dead_lettered_at,
        canonical_json(letter.error.model_dump(mode="json")),
        item.canonical,
    )


def rule_set_row(item: Decoded) -> tuple[Any, ...]:
    """A rule_sets row from a rule-set activation."""
    event = item.model
    return (
        event.event_id,
        event.ruleset_version,
        event.registry_version,
        event.activated_at,
        event.source_file,
        canonical_json(event.actor.model_dump(mode="json")),
    )


def attempt_row(item: Decoded) -> tuple[Any, ...]:
    """A notification_attempts row from a notification attempt, with where it was in the log."""
    a, message = item.model, item.message
    return (
        a.attempt_id,
        a.notification_id,
        a.attempt,
        a.reason.value,
        a.incident_key,
        a.incident_id,
        a.task_id,
        a.enterprise,
        a.person.enterprise,
        a.person.id,
        a.person.name,
        a.channel.value,
        a.address,
        a.priority.value,
        a.caused_by,
        a.caused_at,
        a.attempted_at,
        a.outcome.value,
        a.detail,
        message.topic,
        message.partition,
        message.offset,
    )


def rows_of(
    items: Iterable[Decoded], make: Callable[[Decoded], tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[Poison]]:
    """`make(item)` for every item, and the items it failed on set aside with the reason."""
    rows, poison = [], []
    for item in items:
        try:
            rows.append(make(item))
        except Exception as exc:  # one message the core cannot take costs that message only
            poison.append(Poison(item.message, failure("cannot be recorded", exc)))
    return rows, poison


def poison_row(poison: Poison) -> tuple[Any, ...]:
    """A recorder_dead_letters row: where the message was, its bytes, and why."""
    message = poison.message
    error = None if poison.error is None else canonical_json(poison.error)
    return (
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        poison.reason,
        error,
    )


CONTRACT_OF_TOPIC: dict[str, Contract[Any]] = {
    INCIDENT_EVENTS: INCIDENT_EVENT,
    DEAD_LETTERS: DEAD_LETTER,
    RULESET_ACTIVATIONS: RULESET_ACTIVATED,
    NOTIFICATION_ATTEMPTS: NOTIFICATION_ATTEMPTED,
}


@dataclass
class Batch:
    """A batch's messages sorted by what they become, each list in log order."""

    events: list[Decoded] = field(default_factory=list)
    dead_letters: list[Decoded] = field(default_factory=list)
    rule_sets: list[Decoded] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    attempts: list[Decoded] = field(default_factory=list)

    def _lists(self) -> dict[str, list[Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def after(self, stored: Mapping[tuple[str, int], int]) -> Batch:
        """Only the messages at or past the stored next offset of their partition."""

        def keep(items: list[Any]) -> list[Any]:
            return [i for i in items if i.message.offset >= stored.get(_partition(i.message), 0)]

        return Batch(**{name: keep(items) for name, items in self._lists().items()})

    def singles(self) -> list[Batch]:
        """One batch per message, to find the one the database refuses."""
        return [Batch(**{name: [i]}) for name, items in self._lists().items() for i in items]

    def extend(self, other: Batch) -> None:
        """Append another batch's messages after this one's."""
        for name, items in other._lists().items():
            getattr(self, name).extend(items)

    @property
    def message(self) -> Message:
        """The message of a one-message batch."""
        (item,) = [i for items in self._lists().values() for i in items]
        message: Message = item.message
        return message

    def __len__(self) -> int:
        return sum(map(len, self._lists().values()))


def _partition(message: Message) -> tuple[str, int]:
    return message.topic, message.partition


def sort_out(messages: Iterable[Message], catalog_names: Mapping[str, str]) -> Batch:
    """Decode each message with its topic's contract (`catalog_names`: real topic -> catalog)."""
    batch = Batch()
    lists = {
        INCIDENT_EVENTS: batch.events,
        DEAD_LETTERS: batch.dead_letters,
        RULESET_ACTIVATIONS: batch.rule_sets,
        NOTIFICATION_ATTEMPTS: batch.attempts,
    }
    for message in messages:
        name = catalog_names[message.topic]
        item = decode_message(CONTRACT_OF_TOPIC[name], message)
        if isinstance(item, Poison):
            batch.poison.append(item)
        else:
            lists[name].append(item)
    return batch
