"""The 3-node KRaft cluster on loopback: data replicated to all three, and a broker lost mid-storm.

Topics at replication factor 3 with min.insync.replicas 2: one broker killed with kill -9
while the router drains a storm costs no report, nor, with the whole pipeline running on the
cluster, one killed during a steady stream.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from aiokafka.admin import NewTopic

from benchmarks.crash_loop import crash_loop, summary
from infra import stack
from infra.kafka import local as kafka
from schemas.codec import decode
from schemas.contracts import ROUTED_REPORT
from schemas.example_reports import encoded, report
from services.router.service import build
from services.router.settings import RouterSettings
from services.runtime.kafka import admin_client, make_consumer, make_producer
from services.runtime.topic_admin import partitions_of
from services.runtime.topics import LINE_FAULT_REPORTS, ROUTED_REPORTS, topic_name
from tests.support.kafka_io import publish, read_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def cluster(local_stack, tmp_path_factory):
    """The three nodes, started once for this module, and settings that point at them."""
    settings = local_stack.model_copy(
        update={
            "home": tmp_path_factory.mktemp("cluster"),
            "kafka_cluster_base_port": 29410,
            "kafka_heap": "512m",
        }
    )
    deployment = kafka.three_node_cluster(settings)
    assert await kafka.start(deployment, settings, print)
    client = settings.model_copy(
        update={"kafka_bootstrap": deployment.bootstrap, "topic_replication_factor": 3}
    )
    yield deployment, client
    stopped = kafka.stop(deployment)
    assert set(stopped) <= {1, 2, 3}
    assert all(node.pid() is None for node in deployment.nodes)


async def test_three_node_cluster_replicates(cluster):
    _, client = cluster
    async with admin_client(client) as admin:
        await admin.create_topics([NewTopic("replicated", 3, 3)])
        described = await partitions_of(admin, ["replicated"], wait=True)
    assert {len(p["replicas"]) for p in described["replicated"]} == {3}
    producer = make_producer(client)
    await producer.start()
    try:
        await producer.send_and_wait("replicated", b"three copies", key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(client, "replicated", group_id="cluster-reader")
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"three copies"


def routed_ids(records) -> set[str]:
    ids = set()
    for record in records:
        routed = decode(ROUTED_REPORT, record.value)
        ids |= {routed.report.report_id, *(r.report_id for r in routed.collapsed)}
    return ids


async def test_a_broker_killed_during_a_storm_costs_no_report(cluster, test_id):
    deployment, client = cluster
    settings = RouterSettings.model_validate(
        client.model_dump()
        | {"topic_prefix": f"{test_id}.", "router_group_id": f"{test_id}-router"}
    )
    await stack.apply_topics(settings, print)
    storm = [
        encoded(report("line_fault", f"storm-{n}", **{"alarmed_object.id": f"L-{n % 300}"}))
        for n in range(6000)
    ]
    stop = asyncio.Event()
    routing = asyncio.create_task(build(settings).run(stop))
    routed_topic = topic_name(ROUTED_REPORTS, settings.topic_prefix)
    try:
        await publish(settings, topic_name(LINE_FAULT_REPORTS, settings.topic_prefix),
                      [(None, v) for v in storm[:3000]])  # fmt: skip
        await read_until(settings, routed_topic, lambda r: len(r) >= 50, group=f"{test_id}-peek")
        victim = deployment.nodes[1]
        os.kill(victim.pid(), signal.SIGKILL)  # the rest of the storm meets two brokers
        await publish(settings, topic_name(LINE_FAULT_REPORTS, settings.topic_prefix),
                      [(None, v) for v in storm[3000:]])  # fmt: skip
        records = await read_until(
            settings, routed_topic, lambda r: len(routed_ids(r)) >= len(storm),
            group=f"{test_id}-check", deadline_s=180,
        )  # fmt: skip
    finally:
        stop.set()
        await asyncio.wait_for(routing, timeout=60)
    assert routed_ids(records) == {f"storm-{n}" for n in range(6000)}
    assert not routing.exception()


async def test_the_crash_loops_broker_round_loses_and_doubles_nothing(cluster, test_id):
    """The small version of `python -m benchmarks.crash_loop --services broker`."""
    deployment, client = cluster
    await kafka.start(deployment, client, print)  # a broker an earlier test killed comes back
    settings = client.model_copy(update={"topic_prefix": f"{test_id}.", "db_schema": test_id})
    await stack.apply_topics(settings, print)
    await stack.apply_migrations(settings, print)
    try:
        result = await crash_loop(
            settings, rounds=1, rate=50, services=("broker",), seed=1, cluster=deployment
        )
    finally:
        await stack.drop_schema(settings)
    print(summary(result))
    assert result.sent > 200 and result.lost == 0, summary(result)
    assert not result.opened_twice and not result.never_recovered, summary(result)
    assert result.verify is not None and result.verify.ok, summary(result)
    assert set(result.recovery_s) == {"broker→router", "broker→incidents", "broker→recorder"}
    assert all(node.pid() is not None for node in deployment.nodes)  # started again
