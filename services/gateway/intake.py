"""A report as an HTTP body in, a report ready for its topic out: parse, stamp, check. No I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from schemas.codec import decode, encode
from schemas.contracts import REPORT
from schemas.errors import ContractError
from schemas.kinds import REPORT_KINDS, incident_key
from schemas.references import check_publisher as publisher_problem
from schemas.references import check_references
from schemas.registry import Registry
from schemas.reports import AnyReport
from services.gateway.errors import ApiError
from services.runtime.topics import TOPIC_OF_KIND

# The kinds of the table, in its order: the routes are declared in this order.
KINDS = tuple(spec.kind.value for spec in REPORT_KINDS)
# Only a body with an escape in the surrogate range pays for the full check.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class Admitted:
    """A valid report in the caller's name, its bytes for Kafka, its key and its digest."""

    report: AnyReport
    value: bytes
    incident_key: str
    digest: bytes
    topic: str  # catalog name, before any prefix

    def answer(self) -> dict[str, str]:
        """The 202 body; a retry of the same report gets exactly this again."""
        return {
            "status": "accepted",
            "report_id": self.report.report_id,
            "reported_by": self.report.reported_by,
            "kind": self.report.kind,
            "incident_key": self.incident_key,
        }


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every body: json.loads with an option builds a new one per call (~14 µs).
DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def parse_json(body: bytes) -> tuple[Any, bool]:
    """Any JSON value in `body`, and whether its text has a surrogate escape (to check later);
    bad UTF-8 or bad JSON is a 400."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "bad_encoding", "", f"body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        return DECODER.decode(text), SURROGATE_ESCAPE.search(text) is not None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", "", f"body is not JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", "", f"body is not JSON: {exc}"[:300]) from None


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; bad UTF-8, bad JSON or another JSON type is a 400/422."""
    raw, escaped = parse_json(body)
    return checked_object(raw, escaped=escaped)


def checked_object(raw: Any, *, escaped: bool) -> dict[str, Any]:
    """`raw` if it is a JSON object whose text (`escaped`: with a surrogate escape) makes
    characters only; else a 400/422."""
    if not isinstance(raw, dict):
        raise ApiError(422, "invalid_report", "", f"expected a JSON object, not {_type(raw)}")
    if escaped:
        _refuse_lone_surrogates(raw)
    return raw


def _refuse_lone_surrogates(raw: dict[str, Any]) -> None:
    # JSON lets "\ud800" stand alone; Python keeps it, and UTF-8 cannot encode it later.
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        escape = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
        reason = f"body has the escape {escape}, half of a surrogate pair: no character"
        raise ApiError(400, "malformed_json", "", reason) from None


def admit_body(body: bytes, *, kind: str, enterprise: str, registry: Registry) -> Admitted:
    """The report in `body`, published as `enterprise`: about its own network, in its name."""
    return admit_object(parse_object(body), kind=kind, enterprise=enterprise, registry=registry)


def admit_object(
    raw: dict[str, Any], *, kind: str, enterprise: str, registry: Registry
) -> Admitted:
    """The report parsed into `raw` (changed: kind and reported_by filled in), as admit_body."""
    if raw.setdefault("kind", kind) != kind:
        reason = f"this endpoint takes {kind} reports, the body says {raw['kind']!r}"
        raise ApiError(422, "invalid_report", "kind", reason)
    # The token says who publishes: a body may leave reported_by out, not name someone else.
    raw.setdefault("reported_by", enterprise)
    try:
        report = decode(REPORT, json.dumps(raw, ensure_ascii=False).encode("utf-8"))
    except ContractError as error:
        raise ApiError.from_problems(422, error.code, error.problems) from None
    check_publisher(report, enterprise=enterprise, registry=registry)
    problems = check_references(report, registry)
    if problems:
        raise ApiError.from_problems(422, "unknown_reference", problems)
    value = encode(report)
    return Admitted(
        report=report,
        value=value,
        incident_key=incident_key(report),
        digest=hashlib.sha256(value).digest(),
        topic=TOPIC_OF_KIND[kind],
    )


def check_publisher(report: AnyReport, *, enterprise: str, registry: Registry) -> None:
    """403 `impersonation`, naming the field, unless the token's `enterprise` may publish it."""
    problem = publisher_problem(report, enterprise, registry)
    if problem is not None:
        raise ApiError(403, "impersonation", problem.field, problem.reason)


def _type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
