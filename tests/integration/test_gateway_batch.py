"""Batch publishing against the real gateway, Kafka and PostgreSQL: one result per item, in
order; exactly the accepted reports on the topic; a repeat sends nothing; the two forms; the
limits; and `signalpost publish --file` with NDJSON, end to end."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from aiokafka import TopicPartition

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.example_reports import report
from services.runtime.kafka import make_consumer
from services.runtime.settings import Settings
from services.runtime.topics import KEYED_PARTITIONS, LINE_FAULT_REPORTS, topic_name
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.service_process import SIGNALPOST

pytestmark = pytest.mark.integration
VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
BATCH = "/v1/reports/line_fault/batch"
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
async def gateway(topics, database, tmp_path):
    """A gateway on this test's topics and schema, with small batch limits."""
    running = await start_gateway(
        topics,
        tmp_path / "gateway.log",
        SIGNALPOST_GATEWAY_BATCH_MAX_ITEMS="20",
        SIGNALPOST_GATEWAY_BATCH_MAX_BYTES="65536",
    )
    yield running
    await stop_gateway(running)


async def everything_on(settings: Settings, topic: str) -> list[bytes]:
    """Every record of every partition of `topic`, up to its end now."""
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(KEYED_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    values.extend(r.value for r in batch)
        return values
    finally:
        await consumer.stop()


def ndjson(reports: list[dict]) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in reports) + b"\n"


async def test_a_mixed_batch_is_answered_item_by_item_and_only_the_accepted_are_sent(
    gateway, test_id
):
    vnpt = await gateway.token(VNPT, "publisher")
    before = report("line_fault", f"{test_id}-before")
    async with gateway.client(vnpt) as http:
        assert (await http.post("/v1/reports/line_fault", json=before)).status_code == 202
        good = [report("line_fault", f"{test_id}-{n}") for n in range(3)]
        no_name = {
            k: v for k, v in report("line_fault", f"{test_id}-3").items() if k != "reported_by"
        }
        batch = [
            good[0],
            before,  # accepted before: a duplicate
            report("line_fault", f"{test_id}-bad", election_critical="maybe"),
            report("line_fault", f"{test_id}-theirs", operator=VIETTEL),  # Viettel's line
            good[1],
            before | {"description": "another body"},  # the id is taken: a clash
            good[0],  # earlier in this batch: a duplicate
            no_name,  # reported_by filled in from the token
            good[2],
        ]
        response = await http.post(BATCH, json=batch)
        metrics = (await http.get("/metrics")).text
    assert response.status_code == 200, response.text
    answer = response.json()
    statuses = [
        (r["index"], r["status"], r.get("http_status"), r.get("error")) for r in answer["results"]
    ]
    assert statuses == [
        (0, "accepted", None, None),
        (1, "duplicate", None, None),
        (2, "refused", 422, "invalid_report"),
        (3, "refused", 403, "impersonation"),
        (4, "accepted", None, None),
        (5, "refused", 409, "report_id_reused"),
        (6, "duplicate", None, None),
        (7, "accepted", None, None),
        (8, "accepted", None, None),
    ]
    assert (answer["accepted"], answer["duplicate"], answer["refused"]) == (4, 2, 3)
    assert answer["results"][3]["problems"][0]["field"] == "operator"
    assert answer["results"][2]["problems"][0]["field"] == "election_critical"
    assert answer["results"][7]["reported_by"] == VNPT
    assert answer["results"][0]["incident_key"].startswith("line_fault:vnpt-quang-nam:")
    assert 'signalpost_gateway_reports_total{kind="line_fault",outcome="accepted"} 5.0' in metrics
    assert 'signalpost_gateway_reports_total{kind="line_fault",outcome="repeated"} 2.0' in metrics
    assert 'signalpost_gateway_reports_total{kind="line_fault",outcome="refused"} 3.0' in metrics

    topic = topic_name(LINE_FAULT_REPORTS, gateway.settings.topic_prefix)
    sent = sorted(decode(REPORT, v).report_id for v in await everything_on(gateway.settings, topic))
    expected = sorted([before["report_id"], *(g["report_id"] for g in good), no_name["report_id"]])
    assert sent == expected

    # The whole batch again: nothing new is accepted, nothing new is sent.
    async with gateway.client(vnpt) as http:
        again = (await http.post(BATCH, json=batch)).json()
    assert [r["status"] for r in again["results"]] == [
        "duplicate", "duplicate", "refused", "refused", "duplicate",
        "refused", "duplicate", "duplicate", "duplicate",
    ]  # fmt: skip
    resent = await everything_on(gateway.settings, topic)
    assert sorted(decode(REPORT, v).report_id for v in resent) == expected


async def test_ndjson_and_array_forms_and_the_department_on_anyones_line(gateway, test_id):
    department = await gateway.token(DEPARTMENT, "publisher")
    vnpt = await gateway.token(VNPT, "publisher")
    reports = [report("line_fault", f"{test_id}-{n}", reported_by=DEPARTMENT) for n in range(4)]
    async with gateway.client(department) as http:
        lines = await http.post(BATCH, content=ndjson(reports[:2]), headers=NDJSON)
        array = await http.post(BATCH, json=reports[2:])
    async with gateway.client(vnpt) as http:
        in_its_name = await http.post(BATCH, content=ndjson(reports[:1]), headers=NDJSON)
    assert [r["status"] for r in lines.json()["results"]] == ["accepted", "accepted"]
    assert [r["status"] for r in array.json()["results"]] == ["accepted", "accepted"]
    refusal = in_its_name.json()["results"][0]
    assert (refusal["status"], refusal["error"]) == ("refused", "impersonation")
    assert refusal["problems"][0]["field"] == "reported_by"


async def test_batches_over_a_limit_or_in_no_batch_form_are_refused_with_the_reason(gateway):
    vnpt = await gateway.token(VNPT, "publisher")
    dispatcher = await gateway.token(VNPT, "dispatcher")
    many = [report("line_fault", f"many-{n}") for n in range(21)]
    huge = [report("line_fault", "huge", description="x" * 70_000)]
    async with gateway.client(vnpt) as http:
        too_many = await http.post(BATCH, content=ndjson(many), headers=NDJSON)
        too_big = await http.post(BATCH, content=ndjson(huge), headers=NDJSON)
        csv = await http.post(BATCH, content=b"a,b", headers={"Content-Type": "text/csv"})
        empty = await http.post(BATCH, content=b"\n", headers=NDJSON)
        unknown = await http.post("/v1/reports/earthquake/batch", json=many[:1])
        hyphen = await http.post("/v1/reports/line-fault/batch", json=many[:1])
    async with gateway.client(dispatcher) as http:
        not_a_publisher = await http.post(BATCH, json=many[:1])
    for response, status, code in (
        (too_many, 413, "batch_too_large"),
        (too_big, 413, "body_too_large"),
        (csv, 415, "unsupported_media_type"),
        (empty, 422, "empty_batch"),
        (unknown, 404, "unknown_kind"),
        (not_a_publisher, 403, "forbidden"),
    ):
        assert response.status_code == status, response.text
        assert response.json()["error"] == code
        assert response.json()["problems"][0]["reason"]
    assert "21 reports; the limit is 20" in too_many.json()["problems"][0]["reason"]
    assert hyphen.status_code == 200 and hyphen.json()["accepted"] == 1


async def signalpost(env: dict[str, str], *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        SIGNALPOST, *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_publish_file_sends_ndjson_in_chunks_and_names_each_refused_line(
    topics, database, tmp_path, test_id
):
    running = await start_gateway(
        topics, tmp_path / "gateway.log", SIGNALPOST_GATEWAY_BATCH_MAX_ITEMS="3"
    )
    try:
        env = {**os.environ, "SIGNALPOST_GATEWAY_URL": running.url,
               "SIGNALPOST_TOKEN": await running.token(VNPT, "publisher")}  # fmt: skip
        reports = [report("line_fault", f"{test_id}-{n}") for n in range(5)]
        lines = [json.dumps(r) for r in reports]
        lines.insert(2, "")  # a blank line is no report
        lines.insert(4, json.dumps(report("line_fault", f"{test_id}-x", district="nowhere")))
        lines.append("{not json")
        vnpts = {"reported_by": VNPT, "operator": VNPT, "alarmed_object.id": "VNPT-NET-HOIAN-BSC1"}
        lines.append(json.dumps(report("capacity_alarm", f"{test_id}-cap", **vnpts)))
        good = tmp_path / "reports.ndjson"
        good.write_text("\n".join(lines[:4]) + "\n")
        mixed = tmp_path / "mixed.ndjson"
        mixed.write_text("\n".join(lines) + "\n")

        code, out, err = await signalpost(env, "publish", "--file", str(good), "--chunk", "2")
        assert code == 0, err
        assert "3 accepted, 0 duplicate, 0 refused" in out

        code, out, err = await signalpost(
            env, "publish", "--file", "-", "--chunk", "2", stdin=mixed.read_bytes()
        )
        assert code == 1, (out, err)
        assert "3 accepted, 3 duplicate, 2 refused" in out
        assert "line 5: refused: 422 unknown_reference: district:" in err
        assert "line 8: refused: not JSON" in err
        assert "Traceback" not in err

        code, _, err = await signalpost(env, "publish", "--file", str(tmp_path / "none.ndjson"))
        assert code == 1 and "Traceback" not in err and "none.ndjson" in err
    finally:
        await stop_gateway(running)
    topic = topic_name(LINE_FAULT_REPORTS, topics.topic_prefix)
    sent = [decode(REPORT, v).report_id for v in await everything_on(topics, topic)]
    assert sorted(sent) == sorted(r["report_id"] for r in reports)
