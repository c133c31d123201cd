"""Batches of reports: the two forms, the limits, one result per item, repeats in a batch."""

from __future__ import annotations

import asyncio
import json

import pytest

from schemas.example_reports import report
from schemas.registry import load_registry
from services.gateway.batch import (
    ItemResult,
    Outcome,
    admit_items,
    first_of_each,
    items_of,
    media_type,
    refused,
    repeat_result,
    summary,
)
from services.gateway.coalesce import Coalescer
from services.gateway.errors import ApiError
from services.gateway.intake import Admitted

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
VNPT, VIETTEL = "vnpt-quang-nam", "viettel-quang-nam"


def ndjson(*reports: object) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in reports)


def admitted(*reports: dict, enterprise: str = VNPT) -> list[Admitted | ApiError]:
    items = items_of(ndjson(*reports), "application/x-ndjson", max_items=100)
    return admit_items(items, kind="line_fault", enterprise=enterprise, registry=REGISTRY)


@pytest.mark.parametrize(
    ("header", "form"),
    [
        (None, "application/json"),
        ("application/json", "application/json"),
        ("application/JSON; charset=utf-8", "application/json"),
        ("application/x-ndjson", "application/x-ndjson"),
    ],
)
def test_the_content_type_picks_the_form(header, form):
    assert media_type(header) == form


def test_another_content_type_is_a_415_naming_both_forms():
    with pytest.raises(ApiError) as raised:
        media_type("text/csv")
    assert raised.value.status == 415
    assert "application/x-ndjson" in raised.value.problems[0].reason


def test_both_forms_give_the_same_items():
    reports = [report("line_fault", f"b-{n}") for n in range(3)]
    as_array = items_of(json.dumps(reports).encode(), "application/json", max_items=10)
    as_lines = items_of(ndjson(*reports) + b"\n\n", "application/x-ndjson", max_items=10)
    assert as_array == as_lines == reports


@pytest.mark.parametrize(
    ("body", "form", "status", "code"),
    [
        (b"", "application/x-ndjson", 422, "empty_batch"),
        (b"[]", "application/json", 422, "empty_batch"),
        (b'{"report_id": "x"}', "application/json", 422, "invalid_batch"),
        (b"[1,", "application/json", 400, "malformed_json"),
        (b"\xff[]", "application/json", 400, "bad_encoding"),
    ],
)
def test_a_body_that_is_no_batch_is_refused_whole(body, form, status, code):
    with pytest.raises(ApiError) as raised:
        items_of(body, form, max_items=10)
    assert (raised.value.status, raised.value.code) == (status, code)


def test_more_items_than_the_limit_is_a_413_saying_so():
    with pytest.raises(ApiError) as raised:
        items_of(b"{}\n" * 11, "application/x-ndjson", max_items=10)
    assert (raised.value.status, raised.value.code) == (413, "batch_too_large")
    assert "11 reports; the limit is 10" in raised.value.problems[0].reason


def test_each_bad_item_refuses_only_itself_with_the_single_routes_error():
    good = report("line_fault", "ok-1")
    theirs = report("line_fault", "x-1", operator=VIETTEL, reported_by=VNPT)
    wrong = report("line_fault", "x-2", election_critical="maybe")
    lines = (
        ndjson(good, theirs, wrong) + b"\n{not json\n[1]\n" + ndjson(good | {"report_id": "ok-2"})
    )
    items = items_of(lines, "application/x-ndjson", max_items=10)
    results = admit_items(items, kind="line_fault", enterprise=VNPT, registry=REGISTRY)
    assert [type(r).__name__ for r in results] == [
        "Admitted", "ApiError", "ApiError", "ApiError", "ApiError", "Admitted"
    ]  # fmt: skip
    errors = [(r.status, r.code, r.problems[0].field) for r in results if isinstance(r, ApiError)]
    assert errors == [
        (403, "impersonation", "operator"),
        (422, "invalid_report", "election_critical"),
        (400, "malformed_json", ""),
        (422, "invalid_report", ""),
    ]


def test_a_lone_surrogate_in_an_array_item_is_refused_for_that_item():
    items = items_of(b'[{"report_id": "\\ud800"}, {}]', "application/json", max_items=10)
    assert isinstance(items[0], ApiError) and "surrogate" in items[0].problems[0].reason
    assert items[1] == {}


def test_a_repeated_id_in_one_batch_is_a_duplicate_or_a_clash():
    first = report("line_fault", "r-1")
    reports = admitted(first, report("line_fault", "r-2"), first, first | {"description": "other"})
    firsts, repeats = first_of_each(reports)  # type: ignore[arg-type]
    assert firsts == [0, 1] and repeats == {2: 0, 3: 0}
    accepted = ItemResult(Outcome.ACCEPTED, admitted=reports[0])  # type: ignore[arg-type]
    same = repeat_result(reports[2], reports[0], accepted)  # type: ignore[arg-type]
    clash = repeat_result(reports[3], reports[0], accepted)  # type: ignore[arg-type]
    assert same.outcome is Outcome.DUPLICATE
    assert clash.outcome is Outcome.REFUSED and clash.error.status == 409  # type: ignore[union-attr]
    failed = refused(ApiError(503, "unavailable", "kafka", "down"))
    assert repeat_result(reports[2], reports[0], failed) is failed  # type: ignore[arg-type]


def test_the_answer_counts_and_lists_every_item_in_order():
    good, bad = admitted(report("line_fault", "s-1"), report("line_fault", "s-2", district="x"))
    results = [ItemResult(Outcome.ACCEPTED, admitted=good), refused(bad)]  # type: ignore[arg-type]
    answer = summary(results)
    assert (answer["accepted"], answer["duplicate"], answer["refused"]) == (1, 0, 1)
    assert answer["results"][0] == {
        "index": 0, "status": "accepted", "report_id": "s-1", "reported_by": VNPT,
        "kind": "line_fault", "incident_key": good.incident_key,  # type: ignore[union-attr]
    }  # fmt: skip
    assert answer["results"][1]["index"] == 1
    assert answer["results"][1]["status"] == "refused"
    assert answer["results"][1]["http_status"] == 422
    assert answer["results"][1]["problems"][0]["field"] == "district"


def far() -> float:
    return asyncio.get_running_loop().time() + 60


async def test_an_item_no_flush_took_by_its_deadline_is_dropped_unflushed():
    flushed: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await release.wait()
        return items

    coalescer: Coalescer[int, int] = Coalescer(flush, concurrency=1, max_items=10)
    first = asyncio.create_task(coalescer.submit(1, deadline=far()))
    await asyncio.sleep(0.01)
    soon = asyncio.get_running_loop().time() + 0.05
    with pytest.raises(TimeoutError):
        await coalescer.submit(2, deadline=soon)
    release.set()
    assert await first == 1
    await coalescer.close()
    assert flushed == [[1]]


async def test_submissions_made_while_a_flush_is_out_share_the_next():
    flushed: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await release.wait()
        return [i * 10 for i in items]

    coalescer: Coalescer[int, int] = Coalescer(flush, concurrency=1, max_items=3)
    first = asyncio.create_task(coalescer.submit(0, deadline=far()))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    rest = [asyncio.create_task(coalescer.submit(i, deadline=far())) for i in range(1, 6)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 0
    assert [await r for r in rest] == [10, 20, 30, 40, 50]
    assert flushed == [[0], [1, 2, 3], [4, 5]]


async def test_a_failed_flush_fails_each_of_its_items():
    async def flush(items: list[int]) -> list[int]:
        raise ApiError(503, "unavailable", "postgres", "down")

    coalescer: Coalescer[int, int] = Coalescer(flush, concurrency=2, max_items=10)
    outcomes = await asyncio.gather(
        *(coalescer.submit(i, deadline=far()) for i in range(3)), return_exceptions=True
    )
    assert [getattr(o, "status", None) for o in outcomes] == [503, 503, 503]
