"""Pure: the incident manager's history derived again from its inputs, per key in log order.

Each run of recorded events names its cause: a routed report, a dispatcher command, or the
clock (a timer's cause is an earlier event). The incident manager takes the inputs of each
of its topics in offset order, but how it interleaves its three topics is fixed by nothing,
so the order in which the recorded events name their causes is the order replayed: the
named message is the first of its topic, after the ones already decided, that carries the
cause. From the state folded from the key's recorded events before it, the incident
manager's own core (`decide_input`) must produce exactly that run, at the input's own Kafka
timestamp (a timer at the time its events record: a tick carries nothing else, and its
topic keeps a day). A message no event names must produce nothing at the latest place it
can have been decided (just before the next named one of its topic): a repeat, or an input
the incident manager set aside as a dead letter.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.codec import encode
from schemas.lifecycle import IncidentEvent
from services.auditor.checks import Finding, event_difference, window_findings
from services.auditor.reportlog import Input
from services.incidents import IncidentState, IncidentStateError, Policy, decide_input, fold
from services.incidents import evictable as may_leave
from services.runtime.topics import INCIDENT_COMMANDS, INCIDENT_TICKS, ROUTED_REPORTS

CHECK = "lifecycle"
_Queue = deque[tuple[frozenset[str], Input]]  # a key's messages of one topic, with their names


@dataclass(frozen=True, slots=True)
class Recorded:
    """A recorded event, its row (event JSON text, source position), its key and record in the
    log; `anchored`: the log holds it at its source position (an event it does not hold is a
    finding already: it is folded into its key's state, as recorded, but not checked again)."""

    event: IncidentEvent
    row: Mapping[str, Any]
    key: bytes | None
    anchored: bool = True
    logged: bytes | None = None

    def __str__(self) -> str:
        e, r = self.event, self.row
        where = f"{r['source_topic']}:{r['source_partition']}:{r['source_offset']}"
        return f"{e.type} #{e.sequence} of key {e.incident_key} (log {where})"


@dataclass
class Derived:
    """What the re-derivation found, and how much it covered."""

    findings: list[Finding] = field(default_factory=list)
    reproduced: int = 0  # recorded events produced again exactly
    decided: int = 0  # inputs decided again (named ones and the rest)
    in_flight: int = 0  # unnamed inputs too young to have been decided yet


def names(message: Input) -> frozenset[str]:
    """The causes a message can be named by: its reports (routed) or its command id."""
    try:
        body = json.loads(message.message.value or b"")
        if message.source == INCIDENT_COMMANDS:
            return frozenset({f"command:{body['command_id']}"})
        refs = [body["report"], *body.get("collapsed", ())]
        return frozenset(f"report:{r['reported_by']}:{r['report_id']}" for r in refs)
    except (ValueError, RecursionError, TypeError, KeyError, AttributeError):
        return frozenset()  # the incident manager cannot decide it either: a dead letter


def cause_of(event: IncidentEvent) -> tuple[str, str]:
    """The topic an event's input came from, and how the event names that input."""
    cause = event.caused_by
    if cause.command_id is not None:
        return INCIDENT_COMMANDS, f"command:{cause.command_id}"
    if cause.reports:
        first = cause.reports[0]
        return ROUTED_REPORTS, f"report:{first.reported_by}:{first.report_id}"
    return INCIDENT_TICKS, event.occurred_at.isoformat()


def rederive(
    recorded: Iterable[Recorded],
    inputs: Iterable[Input],
    *,
    policy: Policy,
    now: datetime,
    grace: timedelta,
) -> Derived:
    """Every key's recorded events (in log order) against its inputs (in offset order)."""
    events: dict[bytes | None, list[Recorded]] = defaultdict(list)
    for item in recorded:
        events[item.key].append(item)
    queues: dict[bytes | None, dict[str, _Queue]] = defaultdict(
        lambda: {ROUTED_REPORTS: deque(), INCIDENT_COMMANDS: deque()}
    )
    routed = []
    for message in inputs:
        if message.source == ROUTED_REPORTS:
            routed.append((message.where, message.message.value))
        if message.message.key is not None:  # keyless: a dead letter, never decided
            queues[message.message.key][message.source].append((names(message), message))
    out = Derived()
    out.findings += window_findings(routed)  # grouping windows the router recorded
    for key in events.keys() | queues.keys():
        _KeyReplay(key, queues[key], policy, now, grace, out).run(events.get(key, []))
    out.findings.sort()
    return out


@dataclass(frozen=True)
class _Outcome:
    """A run against its input: events it does not give, events it gives that the run lacks."""

    found: list[Finding]
    missing: list[Finding]
    produced: Sequence[IncidentEvent]

    @property
    def holds(self) -> bool:
        return not self.found and not self.missing


class _KeyReplay:
    """One key's history decided again, run after run, from the state of the runs before."""

    def __init__(
        self,
        key: bytes | None,
        queues: Mapping[str, _Queue],
        policy: Policy,
        now: datetime,
        grace: timedelta,
        out: Derived,
    ) -> None:
        self.key, self.queues, self.policy, self.out = key, queues, policy, out
        self.now, self.grace = now, grace
        self.state = IncidentState()

    def run(self, events: Sequence[Recorded]) -> None:
        start = 0
        while start < len(events):
            cause = cause_of(events[start].event)
            end = start + 1
            while end < len(events) and cause_of(events[end].event) == cause:
                end += 1
            self.decision(cause, events[start:end])
            start = end
        for queue in self.queues.values():
            while queue:
                self.unnamed(queue.popleft()[1])

    def decision(self, cause: tuple[str, str], run: Sequence[Recorded]) -> None:
        """One run of events with one cause, against what its input produces."""
        source, name = cause
        checked = [item for item in run if item.anchored]
        if not checked:
            self.advance(run)
            return
        value: bytes | None
        if source == INCIDENT_TICKS:
            at = run[0].event.occurred_at
            value, what = at.isoformat().encode(), f"the clock at {name}"
        else:
            message = self.take(source, name)
            if message is None:
                why = f"it names {name}, which no message of {source} after those decided carries"
                self.out.findings += _unproduced(checked, why)
                self.advance(run)
                return
            at, value, what = message.now, message.message.value, message.where
        outcome = self.compare(self.state, source, value, at, what, run)
        if not outcome.holds and may_leave(self.state, at, policy=self.policy):
            # The key's state may have left the table at a tick in between (its retention).
            again = self.compare(IncidentState(), source, value, at, what, run)
            if again.holds:
                self.state, outcome = IncidentState(), again
        self.out.findings += outcome.found
        if outcome.missing and self.now - at < self.grace:
            self.out.in_flight += 1  # the rest of a decision this young may not be recorded yet
        else:
            self.out.findings += outcome.missing
        if outcome.missing and not outcome.found:
            # Only events lacking: the history with them is the base, so one lost event is one
            # finding, not one for each event after it.
            self.advance(outcome.produced, run)
        else:
            self.advance(run, outcome.produced)

    def take(self, source: str, name: str) -> Input | None:
        """The first message of `source` left that carries `name`; those before it are
        unnamed and are checked here, the latest place they can have been decided."""
        queue = self.queues.get(source, deque())
        if not any(name in carried for carried, _ in queue):
            return None
        while name not in queue[0][0]:
            self.unnamed(queue.popleft()[1])
        return queue.popleft()[1]

    def produce(
        self, state: IncidentState, source: str, value: bytes | None, at: datetime
    ) -> list[IncidentEvent] | str:
        """What the core decides for the input, or why it cannot decide it."""
        self.out.decided += 1
        try:
            return decide_input(
                state, key=self.key, source=source, value=value, now=at, policy=self.policy
            )[0]
        except Exception as exc:  # as in the agent: such an input is a dead letter
            return f"cannot be decided ({type(exc).__name__}: {exc})"[:300]

    def compare(
        self,
        state: IncidentState,
        source: str,
        value: bytes | None,
        at: datetime,
        what: str,
        run: Sequence[Recorded],
    ) -> _Outcome:
        """The run's anchored events against the input's, matched by event id (an id names
        the incident, sequence, type and cause), so that one event missing is one finding."""
        produced = self.produce(state, source, value, at)
        checked = [item for item in run if item.anchored]
        if isinstance(produced, str):
            return _Outcome(_unproduced(checked, f"its input {what} {produced}"), [], [])
        by_id = {event.event_id: event for event in produced}
        found = []
        for item in checked:
            again = by_id.get(item.event.event_id)
            if again is None:
                listed = ", ".join(f"{e.type} #{e.sequence}" for e in produced) or "nothing"
                found += _unproduced([item], f"its input {what} produces {listed} here")
            elif (difference := _difference(item, again)) is not None:
                found += _unproduced(
                    [item], f"its input {what} produces it otherwise: {difference}"
                )
            else:
                self.out.reproduced += 1
        recorded = {item.event.event_id for item in run}
        missing = [_missing(e, what) for e in produced if e.event_id not in recorded]
        return _Outcome(found, missing, produced)

    def unnamed(self, message: Input) -> None:
        """A message no recorded event names: it must produce nothing where it was decided."""
        produced = self.produce(self.state, message.source, message.message.value, message.now)
        if isinstance(produced, str) or not produced:
            return
        if self.now - message.now < self.grace:
            self.out.in_flight += 1
            return
        self.out.findings += [_missing(e, message.where) for e in produced]

    def advance(self, *runs: Sequence[Recorded | IncidentEvent]) -> None:
        """The first of `runs` that follows the state, folded into it: the recorded run, the
        history under audit, unless it does not follow (a row deleted, a gap: found already)
        and the events derived take its place."""
        for run in runs:
            events = [item.event if isinstance(item, Recorded) else item for item in run]
            try:
                self.state = fold(events, self.state)
                return
            except IncidentStateError:
                continue


def _difference(item: Recorded, again: IncidentEvent) -> str | None:
    """How a recorded event differs from the one derived again, or None when it does not."""
    value = encode(again)
    # The incident manager wrote its record with this same encoding: the same bytes are the
    # same event, and the row is anchored to them. Only otherwise compare the content.
    if value == item.logged:
        return None
    recorded = item.row["event"]
    recorded = json.loads(recorded) if isinstance(recorded, str) else recorded
    known = json.dumps(known_fields(json.loads(value), recorded)).encode()
    return event_difference(recorded, known)


def known_fields(derived: Any, recorded: Any) -> Any:
    """`derived` without the object keys `recorded` lacks, at every depth.

    Schemas only grow: an event an older incident manager wrote has none of the fields added
    since (a task's `on_duty`, an escalation's `told`), and is not a different event for it.
    A field it has is compared in full; a row edited in place is the chain's to find.
    """
    if isinstance(derived, dict) and isinstance(recorded, dict):
        return {k: known_fields(v, recorded[k]) for k, v in derived.items() if k in recorded}
    if isinstance(derived, list) and isinstance(recorded, list) and len(derived) == len(recorded):
        return [known_fields(d, r) for d, r in zip(derived, recorded, strict=True)]
    return derived


def _unproduced(run: Iterable[Recorded], why: str) -> list[Finding]:
    return [
        Finding(
            CHECK,
            r.event.incident_id,
            r.event.event_id,
            f"{r} is not what its inputs produce: {why}",
        )
        for r in run
    ]


def _missing(event: IncidentEvent, what: str) -> Finding:
    reason = (
        f"{event.type} #{event.sequence} of key {event.incident_key}, which {what} produces,"
        " is not in the recorded history"
    )
    return Finding(CHECK, event.incident_id, event.event_id, reason)
