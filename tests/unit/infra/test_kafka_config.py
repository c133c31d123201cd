"""The local Kafka's layout and configuration, and its clear refusals."""

from __future__ import annotations

import pytest

from infra.kafka import local as kafka
from infra.settings import StackSettings
from services.runtime.errors import StackError

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path) -> StackSettings:
    return StackSettings(home=tmp_path, kafka_bootstrap="127.0.0.1:40000")


def test_single_node_listens_where_the_bootstrap_says(settings):
    deployment = kafka.single_node(settings)
    (node,) = deployment.nodes
    assert (node.broker_port, node.controller_port) == (40000, 40001)
    properties = kafka.server_properties(deployment, node)
    assert "controller.quorum.voters=1@127.0.0.1:40001" in properties
    assert "offsets.topic.replication.factor=1" in properties
    assert "auto.create.topics.enable=false" in properties


def test_cluster_nodes_have_distinct_ports_dirs_and_one_quorum(settings):
    deployment = kafka.three_node_cluster(settings)
    ports = [p for n in deployment.nodes for p in (n.broker_port, n.controller_port)]
    assert len(set(ports)) == 6
    assert len({n.directory for n in deployment.nodes}) == 3
    for node in deployment.nodes:
        properties = kafka.server_properties(deployment, node)
        assert f"controller.quorum.voters={deployment.voters}" in properties
        assert "min.insync.replicas=2" in properties
    assert deployment.heap == "512m"
    assert kafka.cluster_id(deployment) == kafka.cluster_id(deployment)


def test_storage_of_another_cluster_is_refused_with_the_cure(settings):
    deployment = kafka.single_node(settings)
    node = deployment.nodes[0]
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "meta.properties").write_text("cluster.id=someone-else\nnode.id=1\n")
    with pytest.raises(StackError, match="another cluster or is damaged.*signalpost kafka reset"):
        kafka.format_storage(deployment, node, settings.home)


def test_storage_without_metadata_is_called_damaged(settings):
    deployment = kafka.single_node(settings)
    node = deployment.nodes[0]
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "leftover.log").write_text("x")
    with pytest.raises(StackError, match="no meta.properties"):
        kafka.format_storage(deployment, node, settings.home)


def test_missing_java_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match="Java 17 or newer.*openjdk-17"):
        kafka.check_java()


def test_the_pom_pins_a_kafka_4_release():
    assert kafka.kafka_version().startswith("4.")


def test_a_cluster_id_made_from_many_threads_at_once_is_one_id(settings):
    from concurrent.futures import ThreadPoolExecutor

    deployment = kafka.three_node_cluster(settings)
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: kafka.cluster_id(deployment), range(32)))
    assert len(ids) == 1
