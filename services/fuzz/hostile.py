"""Hostile input, generated from a seed: every kind of bad message a publisher could send. Pure.

Each input names where it goes (a report topic, the command topic, or an HTTP endpoint) and
its bytes; the same seed gives the same inputs, so a finding can be replayed exactly.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.codec import MAX_MESSAGE_BYTES
from schemas.example_reports import TOPIC_OF_KIND, encoded, report
from schemas.kinds import KIND
from services.runtime.topics import INCIDENT_COMMANDS, enterprise_report_topic

KINDS = tuple(TOPIC_OF_KIND)
# The broker's own limit is 1 MiB; a fuzz message stays under it so that it is written at all.
LARGEST = 900 * 1024


@dataclass(frozen=True)
class FuzzInput:
    """One message to throw: on Kafka (`topic` a catalog name) or over HTTP (`kind` path)."""

    channel: str  # "kafka" or "http"
    target: str  # a catalog topic name, or an HTTP path (with its query)
    value: bytes | None
    key: bytes | None = None
    label: str = ""  # what makes it hostile, for the figures
    method: str = "POST"  # HTTP only
    publisher: str = ""  # HTTP reports: whose publisher token sends it ("" the fuzzer's own)


def corpus(rng: random.Random) -> list[tuple[str, bytes | None]]:
    """Small bytes that are hostile whatever topic they land on."""
    return [
        ("empty", b""),
        ("tombstone", None),
        ("null", b"null"),
        ("array", b"[]"),
        ("number", b"1e400"),
        ("not utf-8", b"\xff\xfe\xfd" + rng.randbytes(64)),
        ("utf-16", "Điện Bàn".encode("utf-16")),
        ("bom", b"\xef\xbb\xbf{}"),
        ("deep array", b"[" * 100_000),
        ("deep object", b'{"a":' * 50_000),
        ("nan", b'{"kind": "line_fault", "observed_value": NaN}'),
        ("huge int", b'{"schema_version": 1' + b"0" * 5000 + b"}"),
        ("lone surrogate", b'{"report_id": "\\ud800"}'),
        ("nul in text", b'{"report_id": "a\\u0000b"}'),
        ("raw nul", b'{"report_id": "a\x00b"}'),  # UTF-8, and no JSON allows it raw
        ("duplicate keys", b'{"kind": "line_fault", "kind": "capacity_alarm"}'),
    ]


def large_corpus(rng: random.Random) -> list[tuple[str, bytes]]:
    """Messages near and over every size limit: the codec's, the dead letter's, the broker's."""
    near = MAX_MESSAGE_BYTES
    return [
        ("at the limit", b" " * (near - 2) + b"{}"),
        ("over the limit", b" " * near + b"{}"),
        ("600 KB random", rng.randbytes(600 * 1024)),
        ("largest", b'{"x": "' + b"a" * (LARGEST - 10) + b'"}'),
        ("control bytes", b"\x01" * 150_000),
    ]


WRONG_VALUES: tuple[Any, ...] = (
    None, 0, -1, 10**30, 1.5, True, "", " ", "x" * 5000, [], {}, [1, 2], {"a": 1}, "2007-13-45",
    "../../etc/passwd", "<script>", "\u202e", "🙂" * 100,
)  # fmt: skip


def mutated_report(rng: random.Random) -> tuple[str, bytes, str]:
    """A valid report with one thing made wrong: (kind, bytes, what was done)."""
    kind = rng.choice(KINDS)
    payload = report(kind, f"fuzz-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}")
    paths = list(_paths(payload))
    path = rng.choice(paths)
    action = rng.choice(("drop", "wrong", "extra", "version", "kind", "enterprise", "time"))
    if action == "drop":
        _set(payload, path, _DROP)
    elif action == "wrong":
        _set(payload, path, rng.choice(WRONG_VALUES))
    elif action == "extra":
        payload[f"unknown_{rng.randrange(1000)}"] = rng.choice(WRONG_VALUES)
    elif action == "version":
        payload["schema_version"] = rng.choice((0, 2, 99, "1", 1.0, None))
    elif action == "kind":
        payload["kind"] = rng.choice(("", "line-fault", "LINE_FAULT", "capacity", None))
    elif action == "enterprise":
        payload["reported_by"] = rng.choice(("nobody", "viettel-quang-nam", "x" * 300, ""))
    else:
        payload["occurred_at"] = rng.choice(("2007-05-19T14:00:00", "3000-01-01T00:00:00Z", 0))
    return kind, encoded(payload), f"{action} {'.'.join(map(str, path))}"


def valid_report(rng: random.Random, *, cleared: bool = False) -> tuple[str, bytes, str]:
    """A report that must be routed: sometimes a clear that arrives before any alarm."""
    kind = "line_fault" if cleared else rng.choice(KINDS)
    line = f"FUZZ-{rng.randrange(10**6)}"
    overrides: dict[str, Any] = {"alarmed_object.id": line} if kind == "line_fault" else {}
    if cleared:
        overrides["perceived_severity"] = "cleared"
    rid = f"fuzz-ok-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
    return kind, encoded(report(kind, rid, **overrides)), "clear first" if cleared else "valid"


def command(rng: random.Random) -> tuple[bytes, str]:
    """A command for an incident that does not exist, or one with a field made wrong."""
    body: dict[str, Any] = {
        "type": rng.choice(("acknowledge_incident", "start_work", "resolve_incident")),
        "schema_version": 1,
        "command_id": f"fuzz-cmd-{rng.getrandbits(64):016x}",
        "incident_id": f"inc-fuzz-{rng.getrandbits(32):08x}",
        "incident_key": f"line_fault:vnpt-quang-nam:FUZZ-{rng.randrange(10**6)}",
        "issued_by": "vnpt-quang-nam",
        "issued_at": "2007-05-20T06:45:00+07:00",
        "dispatcher": "Trực ban",
        "resolution": "Đã sửa",
    }
    if rng.random() < 0.5:
        field = rng.choice(list(body))
        body[field] = rng.choice(WRONG_VALUES)
        return json.dumps(body, ensure_ascii=False).encode(), f"command wrong {field}"
    return json.dumps(body, ensure_ascii=False).encode(), "command for no incident"


def hostile_inputs(seed: int, count: int, *, http: bool = False) -> Iterator[FuzzInput]:
    """`count` inputs from `seed`: corpus bytes, mutated and valid reports, commands.

    Large messages are one input in 300 or so: enough to meet every size limit in a run of
    a few thousand, few enough that a run of 100,000 is not mostly bulk.
    """
    rng = random.Random(seed)
    small, large = corpus(rng), large_corpus(rng)
    makers: list[tuple[float, Callable[[], FuzzInput]]] = [
        (0.15, lambda: _from_corpus(rng, small, http)),
        (0.003, lambda: _from_corpus(rng, large, http=False)),
        (0.45, lambda: _report_input(rng, mutated_report(rng), http)),
        (0.15, lambda: _report_input(rng, valid_report(rng), http)),
        (0.05, lambda: _report_input(rng, valid_report(rng, cleared=True), http)),
        (0.20, lambda: _command_input(rng)),
    ]
    if http:
        makers.append((0.05, lambda: _http_command(rng, small)))
        makers.append((0.02, lambda: _http_read(rng)))
    weights = [w for w, _ in makers]
    for _ in range(count):
        (make,) = rng.choices([m for _, m in makers], weights=weights)
        yield make()


def _from_corpus(
    rng: random.Random, choices: Sequence[tuple[str, bytes | None]], http: bool
) -> FuzzInput:
    label, value = rng.choice(choices)
    if rng.random() < 0.2:
        return FuzzInput("kafka", INCIDENT_COMMANDS, value, key=b"line_fault:x:y", label=label)
    kind = rng.choice(KINDS)
    if http and value is not None and rng.random() < 0.3:
        return FuzzInput("http", f"/v1/reports/{kind}", value, label=label)
    # A Kafka record needs a key or a value: a tombstone always has a key.
    key = _key(rng) if value is not None else b"tombstone"
    return FuzzInput("kafka", TOPIC_OF_KIND[kind], value, key=key, label=label)


def example_owner(kind: str) -> str:
    """The enterprise a kind's example report is about, and in whose name it is made."""
    return str(report(kind, "")[KIND[kind].owner])


# An enterprise none of the examples is by or about: on its own topic, any example report
# is another's, an impersonation the router must dead-letter.
STRANGER = "sfone-quang-nam"


def fuzz_publishers() -> tuple[str, ...]:
    """The enterprises on whose own report topics the fuzzer writes."""
    return tuple(sorted({*(example_owner(k) for k in KINDS), STRANGER}))


def _report_input(rng: random.Random, made: tuple[str, bytes, str], http: bool) -> FuzzInput:
    kind, value, label = made
    if http and rng.random() < 0.3:
        # The owner's token: a valid report is accepted and routed, not refused as another's.
        path = f"/v1/reports/{kind}"
        return FuzzInput("http", path, value, label=label, publisher=example_owner(kind))
    roll = rng.random()
    if roll < 0.1:  # on the owner's own topic, as an enterprise publishing itself
        topic = enterprise_report_topic(example_owner(kind), kind)
    elif roll < 0.15:
        topic, label = enterprise_report_topic(STRANGER, kind), f"{label} on another's topic"
    else:
        topic = TOPIC_OF_KIND[rng.choice(KINDS) if rng.random() < 0.05 else kind]
    return FuzzInput("kafka", topic, value, key=_key(rng), label=label)


ACTIONS = ("acknowledge", "start", "hold", "resolve", "reject", "notes", "reassign", "nope")
HOSTILE_IDS = ("inc-fuzz-0", "x" * 300, "..", "%2e%2e%2f", "inc%00x", "🙂", " ", "inc-1;DROP")


def _http_command(rng: random.Random, choices: list[tuple[str, bytes | None]]) -> FuzzInput:
    """A dispatcher's command over HTTP on an incident that is not there, or a bad body."""
    path = f"/v1/incidents/{rng.choice(HOSTILE_IDS)}/{rng.choice(ACTIONS)}"
    if rng.random() < 0.5:
        label, body = rng.choice(choices)
        return FuzzInput("http", path, body or b"", label=f"http command {label}")
    value, label = command(rng)
    return FuzzInput("http", path, value, label=f"http {label}")


def _http_read(rng: random.Random) -> FuzzInput:
    """A read with a hostile path or query: tasks of another enterprise, odd incident ids."""
    path = rng.choice(
        (
            f"/v1/incidents/{rng.choice(HOSTILE_IDS)}",
            f"/v1/tasks?enterprise={rng.choice(('viettel-quang-nam', 'x' * 500, '%00', ''))}",
            "/v1/tasks?limit=-1&status=🙂",
            "/v1/nowhere",
        )
    )
    return FuzzInput("http", path, None, label="http read", method="GET")


def _command_input(rng: random.Random) -> FuzzInput:
    value, label = command(rng)
    key = rng.choice((b"line_fault:vnpt-quang-nam:FUZZ", None, b"\xff" * 10))
    return FuzzInput("kafka", INCIDENT_COMMANDS, value, key=key, label=label)


def _key(rng: random.Random) -> bytes | None:
    # Keyed by report id (as the README's example does), by nothing, or by garbage.
    return rng.choice((None, rng.randbytes(8), b"x" * 2000, b"key\x00with nul"))


_DROP = object()
# Where a value sits in a JSON document: object keys and array indexes, outermost first.
JsonPath = tuple[str | int, ...]


def _paths(value: Any, prefix: JsonPath = ()) -> Iterator[JsonPath]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield (*prefix, name)
            yield from _paths(item, (*prefix, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _set(payload: Any, path: JsonPath, value: Any) -> None:
    *parents, leaf = path
    for part in parents:
        payload = payload[part]
    if value is _DROP:
        del payload[leaf]
    else:
        payload[leaf] = value
