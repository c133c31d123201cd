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


@pytest.fixture
def secrets(settings) -> kafka.BrokerSecrets:
    return kafka.BrokerSecrets.of(settings)


def test_single_node_listens_where_the_bootstrap_says(settings, secrets):
    deployment = kafka.single_node(settings)
    (node,) = deployment.nodes
    assert (node.broker_port, node.controller_port) == (40000, 40001)
    properties = kafka.server_properties(deployment, node, secrets)
    assert "controller.quorum.voters=1@127.0.0.1:40001" in properties
    assert "offsets.topic.replication.factor=1" in properties
    assert "auto.create.topics.enable=false" in properties


def test_every_listener_authenticates_and_nothing_is_allowed_without_an_acl(settings, secrets):
    deployment = kafka.three_node_cluster(settings)
    for node in deployment.nodes:
        lines = kafka.server_properties(deployment, node, secrets).splitlines()
        listeners = next(x for x in lines if x.startswith("listeners=")).split("=", 1)[1]
        assert {x.split("://")[0] for x in listeners.split(",")} == {"SASL_PLAINTEXT", "CONTROLLER"}
        assert (
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,"
            "CONTROLLER:SASL_PLAINTEXT" in lines
        )
        assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in lines
        assert "allow.everyone.if.no.acl.found=false" in lines
        assert "super.users=User:admin" in lines
        assert any(
            x.startswith("authorizer.class.name=") and "StandardAuthorizer" in x for x in lines
        )
        assert not any("PLAINTEXT://" in x and "SASL" not in x for x in lines)


def test_the_broker_configuration_is_for_its_owner_only(settings, secrets, tmp_path):
    import stat

    deployment = kafka.single_node(settings)
    node = deployment.nodes[0]
    node.directory.mkdir(parents=True)
    node.config_file.write_text("old")
    node.config_file.chmod(0o644)
    kafka._write_config(deployment, node, secrets)
    assert stat.S_IMODE(node.config_file.stat().st_mode) == 0o600
    assert secrets.admin_password in node.config_file.read_text()


def test_storage_from_before_authentication_is_refused_with_the_cure(settings, secrets):
    deployment = kafka.single_node(settings)
    node = deployment.nodes[0]
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "meta.properties").write_text(
        f"cluster.id={kafka.cluster_id(deployment)}\nnode.id=1\n"
    )
    with pytest.raises(StackError, match="before authentication.*signalpost kafka reset"):
        kafka.format_storage(deployment, node, settings.home, secrets)


def test_cluster_nodes_have_distinct_ports_dirs_and_one_quorum(settings, secrets):
    deployment = kafka.three_node_cluster(settings)
    ports = [p for n in deployment.nodes for p in (n.broker_port, n.controller_port)]
    assert len(set(ports)) == 6
    assert len({n.directory for n in deployment.nodes}) == 3
    for node in deployment.nodes:
        properties = kafka.server_properties(deployment, node, secrets)
        assert f"controller.quorum.voters={deployment.voters}" in properties
        assert "min.insync.replicas=2" in properties
    assert deployment.heap == "512m"
    assert kafka.cluster_id(deployment) == kafka.cluster_id(deployment)


def test_storage_of_another_cluster_is_refused_with_the_cure(settings, secrets):
    deployment = kafka.single_node(settings)
    node = deployment.nodes[0]
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "meta.properties").write_text("cluster.id=someone-else\nnode.id=1\n")
    with pytest.raises(StackError, match="another cluster or is damaged.*signalpost kafka reset"):
        kafka.format_storage(deployment, node, settings.home, secrets)


def test_storage_without_metadata_is_called_damaged(settings, secrets):
    deployment = kafka.single_node(settings)
    node = deployment.nodes[0]
    node.data_dir.mkdir(parents=True)
    (node.data_dir / "leftover.log").write_text("x")
    with pytest.raises(StackError, match="no meta.properties"):
        kafka.format_storage(deployment, node, settings.home, secrets)


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


def test_a_new_cluster_id_never_starts_like_an_option(monkeypatch):
    import uuid

    # The 16 bytes whose URL-safe base64 starts with '-' come first, then ordinary ones.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=bytes(16))])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    made = kafka.new_cluster_id()
    assert made == "AAAAAAAAAAAAAAAAAAAAAA"
    assert len(made) == 22
