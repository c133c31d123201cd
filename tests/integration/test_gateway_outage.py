"""The gateway in real outages: Kafka stopped, PostgreSQL frozen or stopped, either absent at start.

Each outage is real: a private broker or PostgreSQL server this test started and then stops
(or freezes with SIGSTOP, as a hung host is), or an address where nothing listens. Every
answer comes within a bound (the settings' 5 s; asserted with room, < 10 s), in the shared
error shape, naming the part that is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from infra import stack
from infra.kafka import local as kafka
from infra.postgres import local as postgres
from schemas.example_reports import report
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.database_urls import own_server_urls
from tests.support.gateway_stack import RunningGateway, free_port, start_gateway, stop_gateway
from tests.support.homes import moved_home
from tests.support.kafka_io import publish
from tests.support.lifecycle_samples import encoded, incident_story
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
VNPT = "vnpt-quang-nam"
OPENED = datetime(2007, 5, 20, 6, 0, tzinfo=UTC)
TIMEOUT_S = 5  # the default of both SIGNALPOST_GATEWAY_KAFKA/DB_TIMEOUT_SECONDS
BOUND_S = 10  # asserted: the timeout, and room for a loaded machine
PG_PORT = 25562  # a private server, so stopping it spares the session's


def quiet(message: str) -> None:
    """Private servers' progress is not this test's output."""


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """The response, and the seconds it took."""
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, part: str) -> None:
    """503 in the shared shape, its one problem naming `part`."""
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "unavailable"
    assert [p["field"] for p in body["problems"]] == [part]
    assert body["problems"][0]["reason"]


async def wait_for(check: Callable[[], Awaitable[object]], deadline_s: float = 30) -> None:
    """Until `check` returns something true."""
    await eventually(check, deadline_s=deadline_s)


def gauge(name: str) -> Callable[[httpx.AsyncClient], Awaitable[float]]:
    async def read(http: httpx.AsyncClient) -> float:
        lines = (await http.get("/metrics")).text.splitlines()
        return next(float(line.split()[1]) for line in lines if line.startswith(f"{name} "))

    return read


publishes_in_flight = gauge("signalpost_gateway_publishes_in_flight")


def port_pair() -> int:
    """A port free now whose next port is free too (a broker and its controller)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


# --- Kafka stopped under a running gateway -------------------------------------------------


@pytest.fixture
async def own_kafka(settings, database, tmp_path):
    """This test's settings on a broker of its own (small heap), with the catalog's topics."""
    port = port_pair()
    node = kafka.KafkaNode(1, port, port + 1, tmp_path / "kafka" / "node-1")
    broker = kafka.KafkaDeployment("gateway-outage", (node,), tmp_path / "kafka", "256m")
    try:
        await kafka.start(broker, settings, quiet)
        mine = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        await stack.apply_topics(mine, quiet)
        yield mine, broker
    finally:
        kafka.stop(broker)


async def test_with_kafka_stopped_answers_are_prompt_503s_and_lookups_keep_their_connections(
    own_kafka, tmp_path, test_id
):
    settings, broker = own_kafka
    gateway = await start_gateway(
        settings,
        tmp_path / "gateway.log",
        SIGNALPOST_GATEWAY_DB_POOL_SIZE="4",
        SIGNALPOST_GATEWAY_PUBLISH_SLOTS="2",
        SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS="0.2",
        SIGNALPOST_GATEWAY_LOOKUP_WAIT_SECONDS="0.2",
    )
    try:
        events = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
        await publish(settings, events, [encoded(e) for e in incident_story(1, OPENED, steps=3)])
        publisher = await gateway.token(VNPT, "publisher")
        dispatcher = await gateway.token(VNPT, "dispatcher")
        async with gateway.client(publisher) as pub, gateway.client(dispatcher) as disp:

            async def heard() -> bool:  # a command on inc-1 is sent: 202 (no incident manager)
                sent = await disp.post("/v1/incidents/inc-1/acknowledge", json={})
                return sent.status_code == 202

            await wait_for(heard)
            up = await pub.post("/v1/reports/line_fault", json=report("line_fault", f"{test_id}-0"))
            assert up.status_code == 202, up.text

            await asyncio.to_thread(kafka.stop, broker)
            waiting = [
                asyncio.create_task(
                    timed(pub.post("/v1/reports/line_fault", json=report("line_fault", rid)))
                )
                for rid in (f"{test_id}-{n}" for n in range(1, 7))
            ]
            # Both publish slots are held by sends Kafka does not take; a request that needs
            # PostgreSQL only still gets a connection, and answers before any of them.
            await wait_for(lambda: _equals(publishes_in_flight(pub), 2))
            lookup, lookup_s = await timed(disp.get("/v1/incidents/inc-1"))
            pending = sum(not task.done() for task in waiting)
            command, command_s = await timed(disp.post("/v1/incidents/inc-1/acknowledge", json={}))
            health = await disp.get("/healthz")
            published = await asyncio.gather(*waiting)
    finally:
        await stop_gateway(gateway)
    publish_s = [round(seconds, 2) for _, seconds in published]
    print(f"\ntime to 503, Kafka stopped: publishes {publish_s} s; command {command_s:.2f} s")
    assert lookup.status_code == 404, lookup.text  # nothing recorded: no recorder runs
    assert lookup_s < TIMEOUT_S and pending == len(waiting)
    for response, _ in published:
        assert_unavailable(response, "kafka")
    assert max(publish_s) < BOUND_S
    assert_unavailable(command, "kafka")
    assert command_s < BOUND_S
    assert health.status_code == 503 and "kafka" in health.json()["down"]


async def _equals(value: Awaitable[float], wanted: float) -> bool:
    return await value == wanted


# --- PostgreSQL frozen, then stopped, under a running gateway ------------------------------


@pytest.fixture
async def own_postgres(topics, local_stack, test_id):
    """This test's settings on a PostgreSQL of its own, migrated; stopped and removed after."""
    home = local_stack.home / "test-homes" / test_id
    urls = own_server_urls(topics, home=home, port=PG_PORT)
    settings = moved_home(topics, home, **urls)
    cluster = postgres.local_cluster(settings, quiet)
    try:
        await postgres.start(cluster, settings, quiet)
        await stack.apply_migrations(settings, quiet)
        yield settings, cluster
    finally:
        _signal_server(cluster, signal.SIGCONT)
        postgres.stop(cluster)
        shutil.rmtree(home, ignore_errors=True)


def _signal_server(cluster, sig: signal.Signals) -> None:
    """Send `sig` to the server and every backend it forked (SIGSTOP: a hung host)."""
    main = cluster.pid()
    if main is None:
        return
    for pid in [main, *_children(main)]:
        with contextlib.suppress(ProcessLookupError):  # a backend that has just exited
            os.kill(pid, sig)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


async def test_with_postgres_frozen_or_stopped_answers_are_prompt_503s(own_postgres, test_id):
    settings, cluster = own_postgres
    gateway = await start_gateway(
        settings,
        settings.home / "gateway.log",
        SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS="0.2",
        SIGNALPOST_GATEWAY_LOOKUP_WAIT_SECONDS="0.2",
    )
    figures = {}
    try:
        publisher = await gateway.token(VNPT, "publisher")
        dispatcher = await gateway.token(VNPT, "dispatcher")
        async with gateway.client(publisher) as pub, gateway.client(dispatcher) as disp:
            up = await pub.post("/v1/reports/line_fault", json=report("line_fault", f"{test_id}-0"))
            assert up.status_code == 202, up.text
            for outage in ("frozen", "stopped"):
                if outage == "frozen":
                    _signal_server(cluster, signal.SIGSTOP)
                else:
                    _signal_server(cluster, signal.SIGCONT)
                    await asyncio.to_thread(postgres.stop, cluster)
                body = report("line_fault", f"{test_id}-{outage}")
                published, figures[f"publish, {outage}"] = await timed(
                    pub.post("/v1/reports/line_fault", json=body)
                )
                command, figures[f"command, {outage}"] = await timed(
                    disp.post("/v1/incidents/inc-1/acknowledge", json={})
                )
                sla, figures[f"report, {outage}"] = await timed(disp.get("/v1/report"))
                health = await disp.get("/healthz")
                assert_unavailable(published, "postgres")
                assert_unavailable(command, "postgres")
                assert_unavailable(sla, "postgres")
                assert health.status_code == 503 and health.json()["down"] == ["postgres"]
            await postgres.start(cluster, settings, quiet)
            back = await pub.post("/v1/reports/line_fault", json=report("line_fault", test_id))
    finally:
        _signal_server(cluster, signal.SIGCONT)
        await stop_gateway(gateway)
    print("\ntime to 503, PostgreSQL:", {k: round(v, 2) for k, v in figures.items()})
    assert max(figures.values()) < BOUND_S
    assert back.status_code == 202, back.text


# --- started while a part is unreachable ---------------------------------------------------


@pytest.mark.parametrize("absent", ["kafka", "postgres"])
async def test_a_gateway_started_without_a_part_serves_503s_naming_it(
    topics, database, tmp_path, absent
):
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens here
    if absent == "kafka":
        settings = topics.model_copy(update={"kafka_bootstrap": nowhere})
    else:
        url = SecretStr(f"postgresql://signalpost_gateway:unused@{nowhere}/signalpost")
        settings = topics.model_copy(update={"gateway_database_url": url})
    gateway = await start_gateway(settings, tmp_path / "gateway.log", healthy=False)
    try:
        secret = await gateway.token(VNPT, "dispatcher") if absent == "kafka" else "sp_unchecked"
        async with gateway.client(secret) as http:
            health = await http.get("/healthz")
            answers = [
                await timed(http.post("/v1/reports/line_fault", json=report("line_fault", "r"))),
                await timed(http.post("/v1/incidents/inc-1/acknowledge", json={})),
                await timed(http.get("/v1/tasks")),
                await timed(http.get("/v1/tasks/stream")),
            ]
    finally:
        await stop_gateway(gateway)
    assert health.status_code == 503
    assert health.json()["down"] == (["kafka", "events"] if absent == "kafka" else ["postgres"])
    for response, seconds in answers:
        if absent == "kafka" and response.status_code == 403:
            continue  # a dispatcher may not publish: refused before Kafka is needed
        assert_unavailable(response, absent)
        assert seconds < BOUND_S


# --- task streams: limits, and nothing left open by a client that leaves -------------------


@pytest.fixture
async def gateway(topics, database, tmp_path):
    running = await start_gateway(
        topics,
        tmp_path / "gateway.log",
        SIGNALPOST_GATEWAY_STREAMS_PER_TOKEN="2",
        SIGNALPOST_GATEWAY_STREAMS_TOTAL="3",
    )
    yield running
    await stop_gateway(running)


class OpenStream:
    """A task stream held open until closed."""

    def __init__(self, gateway: RunningGateway, secret: str) -> None:
        self.client = gateway.client(secret)
        self.status: int | None = None
        self.body: dict | None = None
        self.started = asyncio.Event()
        self._task = asyncio.create_task(self._hold())

    async def _hold(self) -> None:
        async with self.client.stream("GET", "/v1/tasks/stream") as response:
            self.status = response.status_code
            if response.status_code != 200:
                self.body = json.loads(await response.aread())
            self.started.set()
            await asyncio.Event().wait()

    async def opened(self) -> int:
        async with asyncio.timeout(BOUND_S):
            await self.started.wait()
        return self.status

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.client.aclose()


async def test_task_streams_are_limited_per_token_and_in_total(gateway):
    first, second, third = [await gateway.token(VNPT, "dispatcher") for _ in range(3)]
    streams = [OpenStream(gateway, first), OpenStream(gateway, first)]
    try:
        assert [await s.opened() for s in streams] == [200, 200]
        streams.append(OpenStream(gateway, first))
        assert await streams[-1].opened() == 429
        assert streams[-1].body["problems"][0]["field"] == "authorization"
        streams.append(OpenStream(gateway, second))
        assert await streams[-1].opened() == 200
        streams.append(OpenStream(gateway, third))
        assert await streams[-1].opened() == 429  # three open: the gateway's limit
        assert streams[-1].body["error"] == "too_many_streams"
        await streams[0].close()

        async def freed() -> bool:
            again = OpenStream(gateway, third)
            streams.append(again)
            return await again.opened() == 200

        await wait_for(freed, BOUND_S)  # a closed stream gives its slot back
    finally:
        await asyncio.gather(*(s.close() for s in streams))


def broker_connections(pid: int, port: int) -> int:
    """Open TCP connections of process `pid` to `port` on loopback (its Kafka clients)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
            count += 1
    return count


async def test_a_stream_left_before_its_first_byte_closes_its_kafka_consumer(gateway):
    secret = await gateway.token(VNPT, "dispatcher")
    pid, port = gateway.process.pid, int(gateway.settings.kafka_bootstrap.rsplit(":", 1)[1])
    host, http_port = gateway.url.removeprefix("http://").split(":")
    baseline = broker_connections(pid, port)
    held = OpenStream(gateway, secret)
    assert await held.opened() == 200
    with_one = broker_connections(pid, port)
    await held.close()
    request = (
        f"GET /v1/tasks/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {secret}\r\n\r\n"
    ).encode()
    for leavers in range(1, 5):  # more than the token's limit of 2: each slot comes back

        async def ended(count: int = 1 + leavers) -> bool:
            return gateway.log.read_text().count('"task_stream_ended"') == count

        _, writer = await asyncio.open_connection(host, int(http_port))
        writer.write(request)
        await writer.drain()
        writer.close()  # gone before the gateway has sent a byte
        await writer.wait_closed()
        await wait_for(ended, BOUND_S)

    async def all_closed() -> bool:
        return broker_connections(pid, port) == baseline

    await wait_for(all_closed, BOUND_S)
    assert with_one > baseline  # a stream does hold connections of its own
    again = OpenStream(gateway, secret)
    try:
        assert await again.opened() == 200
    finally:
        await again.close()
