"""The 3-node KRaft cluster on loopback: all brokers serve, and data is replicated to all three."""

from __future__ import annotations

import pytest
from aiokafka.admin import NewTopic

from infra.kafka import local as kafka
from services.runtime.kafka import admin_client, make_consumer, make_producer
from services.runtime.topics import partitions_of

pytestmark = pytest.mark.integration


async def test_three_node_cluster_replicates(local_stack, tmp_path):
    settings = local_stack.model_copy(
        update={"home": tmp_path, "kafka_cluster_base_port": 29410, "kafka_heap": "512m"}
    )
    cluster = kafka.three_node_cluster(settings)
    assert await kafka.start(cluster, settings, print)
    try:
        client = settings.model_copy(update={"kafka_bootstrap": cluster.bootstrap})
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
    finally:
        stopped = kafka.stop(cluster)
    assert sorted(stopped) == [1, 2, 3]
    assert all(node.pid() is None for node in cluster.nodes)
