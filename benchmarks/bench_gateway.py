"""Gateway figures on the real stack, each beside a plain aiokafka baseline in the same run.

1. Publish: single reports POSTed over HTTP by `--concurrency` clients (token check,
   validation, idempotency row, Kafka ack before each answer), req/s with p50 and p99,
   against the same reports produced with plain aiokafka by as many concurrent senders,
   each awaiting its ack.
2. Storm: `--storm` line faults over 500 lines POSTed as batches of 500 by 4 posters
   (`POST /v1/reports/line_fault/batch`, NDJSON), durably accepted reports/s, against plain
   aiokafka producing the same reports in the same chunks, each chunk's acks awaited.
3. Publish -> SSE: a report published over HTTP until its task arrives on the dispatcher's
   stream (router and incident manager running), against a report produced with aiokafka
   until its task is read straight from the feed with aiokafka.

Targets (issue 16; printed, never asserted): single publishes >= 5,000 req/s with p99 <= 10
ms; storm >= 50,000 reports/s.

    .venv/bin/python -m benchmarks.bench_gateway [--reports 4000] [--concurrency 32]
        [--storm 100000] [--latency 200] [--quick] [--result PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import TopicPartition

from benchmarks.results import Figure, add_arguments, percentiles
from benchmarks.results import report as report_figures
from infra import stack
from infra.settings import StackSettings
from infra.spawn import peak_rss_mib, spawn_service
from schemas.example_reports import encoded, report
from services.gateway import EventDecoder, Role, create_token
from services.runtime import db
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.settings import load_settings
from services.runtime.topics import LINE_FAULT_REPORTS, task_feed, topic_name
from tests.support.gateway_stack import free_port

VNPT = "vnpt-quang-nam"
PACE_S = 0.02  # between reports of the latency runs: one at a time, not a burst
STORM_LINES, STORM_BATCH, STORM_POSTERS = 500, 500, 4


def line_fault(tag: str, n: int, line: int | None = None) -> dict:
    """A VNPT line fault on a line of its own (each one opens its own incident), or on `line`."""
    return report(
        "line_fault",
        f"{tag}-{n}",
        **{
            "alarmed_object.id": f"VNPT-B-{tag}-{n if line is None else line}",
            "alarmed_object.service_class": "subscriber",
            "election_critical": False,
        },
    )


def storm(tag: str, count: int) -> list[dict]:
    """`count` line faults over STORM_LINES lines: a fibre cut's alarm storm."""
    return [line_fault(tag, n, line=n % STORM_LINES) for n in range(count)]


def gateway_url() -> tuple[str, str]:
    """A free port for the benchmark's gateway (others may run theirs), and its URL."""
    port = str(free_port())
    return port, f"http://127.0.0.1:{port}"


async def spawn(name: str, settings: StackSettings, log: Path, **variables: str):
    """`signalpost run NAME` on the benchmark's prefix and schema, output to `log`."""
    with log.open("ab") as out:
        return await spawn_service(name, settings, out, SIGNALPOST_LOG_LEVEL="WARNING", **variables)


async def wait_healthy(url: str, gateway: asyncio.subprocess.Process, log: Path) -> None:
    """Until /healthz answers 200; an exited gateway fails at once, naming its log."""
    async with httpx.AsyncClient(base_url=url) as http, asyncio.timeout(60):
        while gateway.returncode is None:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateway exited; see {log}")


async def post_on(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    path: str,
    secret: str,
    body: bytes,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 POST on an open connection; the status.

    httpx costs the client more CPU per request than the gateway spends answering it, so on
    two shared cores it, not the gateway, would set the pace; this costs next to nothing.
    """
    reader, writer = connection
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {secret}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    answer = await reader.readexactly(length)
    return int(head.split(b" ", 2)[1]), answer


async def post_all(
    url: str, secret: str, path: str, bodies: list[bytes], concurrency: int, **options: str
) -> tuple[float, list[float], list[bytes]]:
    """POST every body over `concurrency` keep-alive connections: seconds taken, each
    request's seconds, and each answer; any status but 202 (single) or 200 (batch) fails."""
    host, port = url.removeprefix("http://").split(":")
    queue = list(reversed(bodies))
    latencies: list[float] = []
    answers: list[bytes] = []

    async def worker() -> None:
        connection = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                started = time.perf_counter()
                status, answer = await post_on(connection, path, secret, queue.pop(), **options)
                latencies.append(time.perf_counter() - started)
                assert status in (200, 202), (status, answer[:500])
                answers.append(answer)
        finally:
            connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, answers


async def post_storm(url: str, secret: str, lines: list[bytes], log: Path) -> float:
    """Post NDJSON report lines as a storm: batches of STORM_BATCH from STORM_POSTERS clients;
    seconds taken. Every report must be accepted."""
    bodies = [b"\n".join(lines[i : i + STORM_BATCH]) for i in range(0, len(lines), STORM_BATCH)]
    path = "/v1/reports/line_fault/batch"
    took, _, answers = await post_all(
        url, secret, path, bodies, STORM_POSTERS, content_type="application/x-ndjson"
    )
    accepted = sum(json.loads(a)["accepted"] for a in answers)
    assert accepted == len(lines), f"{accepted} of {len(lines)} accepted; see {log}"
    return took


async def publish_raw(
    settings: StackSettings, chunks: list[list[bytes]], concurrency: int
) -> tuple[float, list[float]]:
    """The baseline: the same reports, `concurrency` senders each sending a chunk and then
    awaiting all its acks (a chunk of one: send_and_wait); seconds taken, each chunk's."""
    producer = make_producer(settings)
    await producer.start()
    queue = list(reversed(chunks))
    topic = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            started = time.perf_counter()
            acks = [await producer.send(topic, value) for value in queue.pop()]
            await asyncio.gather(*acks)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await producer.stop()
    return time.perf_counter() - started, latencies


async def latency_http(url: str, publisher: str, dispatcher: str, count: int) -> list[float]:
    """Seconds from each POST to its task on the dispatcher's stream."""
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    auth = {"Authorization": f"Bearer {dispatcher}"}
    async with httpx.AsyncClient(base_url=url, timeout=None, headers=auth) as sse:

        async def listen() -> None:
            async with sse.stream("GET", "/v1/tasks/stream", params={"start": "end"}) as stream:
                decoder = EventDecoder()
                async for line in stream.aiter_lines():
                    event = decoder.feed(line)
                    if event is not None and event.event == "task":
                        key = json.loads(event.data)["incident_key"]
                        arrived.setdefault(key, time.perf_counter())

        listener = asyncio.create_task(listen())
        await asyncio.sleep(1)  # the stream is open at the feeds' end
        auth = {"Authorization": f"Bearer {publisher}"}
        async with httpx.AsyncClient(base_url=url, headers=auth) as http:
            for n in range(count):
                started = time.perf_counter()
                response = await http.post("/v1/reports/line_fault", json=line_fault("lat", n))
                sent[response.json()["incident_key"]] = started
                await asyncio.sleep(PACE_S)
        await until_all_arrived(sent, arrived)
        listener.cancel()
    return [arrived[k] - sent[k] for k in sent]


async def until_all_arrived(sent: dict[str, float], arrived: dict[str, float]) -> None:
    """Wait (bounded) until every key sent has arrived."""
    async with asyncio.timeout(120):
        while True:
            if sent.keys() <= arrived.keys():
                return
            await asyncio.sleep(0.05)


async def latency_raw(settings: StackSettings, count: int, tag: str) -> list[float]:
    """The baseline: produce with aiokafka, read the task straight off the feed."""
    feed = topic_name(task_feed(VNPT), settings.topic_prefix)
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    partitions = [TopicPartition(feed, p) for p in range(3)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    producer = make_producer(settings)
    await producer.start()
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}

    async def listen() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    arrived.setdefault(r.key.decode(), time.perf_counter())

    listener = asyncio.create_task(listen())
    topic = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
    try:
        for n in range(count):
            body = line_fault(tag, n)
            key = f"line_fault:{VNPT}:{body['alarmed_object']['id']}"
            sent[key] = time.perf_counter()
            await producer.send_and_wait(topic, encoded(body), key=key.encode())
            await asyncio.sleep(PACE_S)
        await until_all_arrived(sent, arrived)
    finally:
        listener.cancel()
        await producer.stop()
        await consumer.stop()
    return [arrived[k] - sent[k] for k in sent]


async def prepare(base: StackSettings, name: str) -> tuple[StackSettings, str, str]:
    """A private prefix and schema with the catalog's topics; a publisher and a dispatcher token."""
    progress = lambda m: print(f"# {m}", file=sys.stderr)  # noqa: E731
    tag = f"{name}{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={"topic_prefix": f"bench-gw-{tag}.", "db_schema": f"bench_gw_{tag}"}
    )
    await stack.apply_topics(settings, progress)
    await stack.apply_migrations(settings, progress)
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        publisher = await create_token(conn=conn, enterprise=VNPT, role=Role.PUBLISHER)
        dispatcher = await create_token(conn=conn, enterprise=VNPT, role=Role.DISPATCHER)
    finally:
        await conn.close()
    return settings, publisher.secret, dispatcher.secret


async def measure_publish(
    base: StackSettings, logs: Path, reports: int, concurrency: int
) -> list[Figure]:
    """Single publishes over HTTP beside raw aiokafka senders, on topics of their own."""
    settings, publisher, _ = await prepare(base, "p")
    log = logs / "gateway-publish.log"
    port, url = gateway_url()
    gateway = await spawn("gateway", settings, log, SIGNALPOST_GATEWAY_PORT=port)
    try:
        await wait_healthy(url, gateway, log)
        warm = [json.dumps(line_fault("warm", n)).encode() for n in range(200)]
        await post_all(url, publisher, "/v1/reports/line_fault", warm, concurrency)
        bodies = [line_fault("pub", n) for n in range(reports)]
        raw_s, raw = await publish_raw(settings, [[encoded(b)] for b in bodies], concurrency)
        posts = [json.dumps(b).encode() for b in bodies]
        http_s, http, _ = await post_all(url, publisher, "/v1/reports/line_fault", posts,
                                         concurrency)  # fmt: skip
        peak = peak_rss_mib(gateway.pid)
    finally:
        await stop([gateway])
        await clean_up(settings)
    return [
        Figure(
            "gateway",
            f"single publishes, {concurrency} clients",
            reports / http_s,
            "req/s",
            **percentiles([s * 1000 for s in http]),
            target="≥ 5,000/s, p99 ≤ 10 ms",
            peak_rss_mib=peak,
            baseline=f"aiokafka send+ack, {concurrency} senders",
            baseline_rate=reports / raw_s,
        ),
        Figure(
            "gateway",
            f"raw: aiokafka send+ack, {concurrency} senders",
            reports / raw_s,
            "msgs/s",
            **percentiles([s * 1000 for s in raw]),
        ),
    ]


async def measure_storm(base: StackSettings, logs: Path, count: int) -> Figure:
    """A storm over HTTP batches beside raw aiokafka producing the same chunks."""
    settings, publisher, _ = await prepare(base, "s")
    log = logs / "gateway-storm.log"
    port, url = gateway_url()
    gateway = await spawn("gateway", settings, log, SIGNALPOST_GATEWAY_PORT=port)
    try:
        await wait_healthy(url, gateway, log)
        reports = storm("storm", count)
        chunks = [reports[i : i + STORM_BATCH] for i in range(0, count, STORM_BATCH)]
        raw_s, _ = await publish_raw(
            settings, [[encoded(b) for b in chunk] for chunk in chunks], STORM_POSTERS
        )
        http_s = await post_storm(url, publisher, [json.dumps(b).encode() for b in reports], log)
        peak = peak_rss_mib(gateway.pid)
    finally:
        await stop([gateway])
        await clean_up(settings)
    return Figure(
        "gateway",
        f"HTTP storm: {count:,} over {STORM_LINES} lines",  # the table keeps 39 characters
        count / http_s,
        "reports/s",
        peak_rss_mib=peak,
        baseline=f"aiokafka, chunks of {STORM_BATCH}, {STORM_POSTERS} senders",
        baseline_rate=count / raw_s,
        target="≥ 50,000/s",
    )


async def measure_latency(base: StackSettings, logs: Path, latency: int) -> list[Figure]:
    """Publish -> task through the gateway beside raw aiokafka; router and manager running."""
    settings, publisher, dispatcher = await prepare(base, "l")
    tag = settings.db_schema
    port, url = gateway_url()
    processes = [
        await spawn("gateway", settings, logs / "gateway.log", SIGNALPOST_GATEWAY_PORT=port),
        await spawn(
            "router", settings, logs / "router.log", SIGNALPOST_ROUTER_GROUP_ID=f"{tag}-router"
        ),
        await spawn(
            "incidents",
            settings,
            logs / "incidents.log",
            SIGNALPOST_INCIDENTS_APP_ID=f"{tag}-incidents",
        ),
    ]
    try:
        await wait_healthy(url, processes[0], logs / "gateway.log")
        await latency_raw(settings, 20, "warm")  # every service has its partitions by now
        raw = await latency_raw(settings, latency, "raw")
        http = await latency_http(url, publisher, dispatcher, latency)
    finally:
        await stop(processes)
        await clean_up(settings)
    ratio = statistics.median(http) / statistics.median(raw)
    return [
        Figure(
            "gateway",
            f"publish -> SSE task (p50 {ratio:.2f}x raw)",
            **percentiles([s * 1000 for s in http]),
        ),
        Figure(
            "gateway",
            "raw: send -> task off the feed",
            **percentiles([s * 1000 for s in raw]),
        ),
    ]


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM each, and wait for them all."""
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        await process.wait()


async def main(reports: int, concurrency: int, storm_count: int, latency: int) -> list[Figure]:
    """Every figure, each on its own topics (the last's pipeline has no backlog to drain)."""
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    logs = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    print(
        f"# logs in {logs}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        file=sys.stderr,
    )
    publish = await measure_publish(base, logs, reports, concurrency)
    storm_figure = await measure_storm(base, logs, storm_count)
    return [*publish, storm_figure, *await measure_latency(base, logs, latency)]


async def clean_up(settings: StackSettings) -> None:
    """Drop the benchmark's topics and schema: a shared broker has only so many file handles."""
    await stack.delete_topics(settings)
    await stack.drop_schema(settings)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=None, help="default 4,000 (quick 300)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent publishers")
    parser.add_argument("--storm", type=int, default=None, help="default 100,000 (quick 5,000)")
    parser.add_argument("--latency", type=int, default=None, help="default 200 (quick 30)")
    add_arguments(parser)
    args = parser.parse_args()
    reports = args.reports or (300 if args.quick else 4_000)
    storm_count = args.storm or (5_000 if args.quick else 100_000)
    latency = args.latency or (30 if args.quick else 200)
    report_figures(asyncio.run(main(reports, args.concurrency, storm_count, latency)), args)
