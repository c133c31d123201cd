"""A batch of reports as an HTTP body in, one result per item out: split, admit, answer. No I/O.

A batch is a JSON array (`application/json`) or NDJSON (`application/x-ndjson`, one report a
line; blank lines are no items). Each item is admitted on its own, exactly as a single
publish is (`intake.admit_object`), so one bad item refuses only itself; what is admitted is
then recorded and sent together (`store.accept_reports`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schemas.registry import Registry
from services.gateway.errors import ApiError
from services.gateway.intake import Admitted, admit_object, checked_object, parse_json

JSON = "application/json"
NDJSON = "application/x-ndjson"
MEDIA_TYPES = (JSON, NDJSON)


class Outcome(StrEnum):
    """What became of one report of a batch (or of a single publish)."""

    ACCEPTED = "accepted"  # on its topic, acknowledged by the brokers, its id recorded
    DUPLICATE = "duplicate"  # the same report was accepted before: not sent again
    REFUSED = "refused"  # not sent; the error says why


@dataclass(frozen=True)
class ItemResult:
    """One report's outcome: accepted or duplicate with its report, or refused with why."""

    outcome: Outcome
    admitted: Admitted | None = None
    error: ApiError | None = None

    def as_json(self, index: int) -> dict[str, Any]:
        """The item's entry in the batch answer: the single route's 202 body or its error."""
        if self.admitted is not None and self.error is None:
            return {"index": index, **self.admitted.answer(), "status": self.outcome.value}
        assert self.error is not None
        return {
            "index": index,
            "status": self.outcome.value,
            "http_status": self.error.status,
            **self.error.body().model_dump(mode="json"),
        }


def refused(error: ApiError) -> ItemResult:
    """An item refused with `error`, in the single route's words."""
    return ItemResult(Outcome.REFUSED, error=error)


def media_type(content_type: str | None) -> str:
    """The batch form a Content-Type names; any other is a 415 naming the two forms."""
    essence = (content_type or JSON).split(";", 1)[0].strip().lower()
    if essence in MEDIA_TYPES:
        return essence
    reason = f"Content-Type {essence[:80]!r} is not a batch form; use {JSON} or {NDJSON}"
    raise ApiError(415, "unsupported_media_type", "content-type", reason)


def items_of(body: bytes, form: str, *, max_items: int) -> list[Any]:
    """The batch's items, each a parsed JSON object or the ApiError that refuses it.

    A body that is no batch at all (not an array, not UTF-8, no items) or one with more than
    `max_items` items is refused whole (422, 400, 413), before any item is admitted.
    """
    items = _array_items(body) if form == JSON else list(_ndjson_items(body))
    if not items:
        raise ApiError(422, "empty_batch", "", "the batch has no reports")
    check_count(len(items), max_items=max_items)
    return items


def check_count(count: int, *, max_items: int) -> None:
    """413 `batch_too_large` when a body holds more than `max_items` reports."""
    if count > max_items:
        reason = f"the batch has {count} reports; the limit is {max_items} a batch"
        raise ApiError(413, "batch_too_large", "", reason)


def _array_items(body: bytes) -> list[Any]:
    raw, escaped = parse_json(body)
    if not isinstance(raw, list):
        what = "an object" if isinstance(raw, dict) else f"a {type(raw).__name__}"
        reason = f"a {JSON} batch is a JSON array of reports, not {what}"
        raise ApiError(422, "invalid_batch", "", reason)
    return [_checked(item, escaped) for item in raw]


def _ndjson_items(body: bytes) -> Iterator[Any]:
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            raw, escaped = parse_json(line)
        except ApiError as error:
            yield error
            continue
        yield _checked(raw, escaped)


def _checked(raw: Any, escaped: bool) -> dict[str, Any] | ApiError:
    try:
        return checked_object(raw, escaped=escaped)
    except ApiError as error:
        return error


def admit_items(
    items: Sequence[Any], *, kind: str, enterprise: str, registry: Registry
) -> list[Admitted | ApiError]:
    """Each item admitted as a single publish of `kind` by `enterprise` would be, or its error."""
    admitted: list[Admitted | ApiError] = []
    for item in items:
        if isinstance(item, ApiError):
            admitted.append(item)
            continue
        try:
            admitted.append(admit_object(item, kind=kind, enterprise=enterprise, registry=registry))
        except ApiError as error:
            admitted.append(error)
    return admitted


def first_of_each(admitted: Sequence[Admitted]) -> tuple[list[int], dict[int, int]]:
    """Positions of the first report of each (publisher, report id), and each later one's first.

    Only a first report is recorded and sent; a later one with the same id is a duplicate of
    it (same bytes) or a clash (other bytes), decided by `repeat_result`.
    """
    first: dict[tuple[str, str], int] = {}
    repeats: dict[int, int] = {}
    for position, item in enumerate(admitted):
        ref = (item.report.reported_by, item.report.report_id)
        if ref in first:
            repeats[position] = first[ref]
        else:
            first[ref] = position
    return list(first.values()), repeats


def repeat_result(item: Admitted, first: Admitted, first_result: ItemResult) -> ItemResult:
    """A report whose id came earlier in the same flush, given what became of the earlier one."""
    if item.digest != first.digest:
        return refused(reused_id(item))
    if first_result.outcome is Outcome.REFUSED:
        return first_result
    return ItemResult(Outcome.DUPLICATE, admitted=item)


def reused_id(item: Admitted) -> ApiError:
    """409: the report id was taken by another body."""
    reason = f"report {item.report.report_id} was already accepted with a different body"
    return ApiError(409, "report_id_reused", "report_id", reason)


def summary(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The batch answer: counts by outcome, then every item's result in the batch's order."""
    counts = {o.value: sum(r.outcome is o for r in results) for o in Outcome}
    return {**counts, "results": [r.as_json(i) for i, r in enumerate(results)]}
