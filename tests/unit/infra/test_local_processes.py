"""Pid files, taken ports and damaged PostgreSQL directories get clear answers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from infra.postgres import local as postgres
from infra.process import read_pid, require_free_port
from services.runtime.errors import StackError

pytestmark = pytest.mark.unit


def test_a_stale_pid_file_is_removed(tmp_path):
    pid_file = tmp_path / "x.pid"
    pid_file.write_text("999999999\n")
    assert read_pid(pid_file, marker="anything") is None
    assert not pid_file.exists()


def test_a_pid_reused_by_another_program_is_not_ours(tmp_path):
    pid_file = tmp_path / "x.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert read_pid(pid_file, marker="no-such-marker-in-pytest") is None
    pid_file.write_text(f"{os.getpid()}\n")
    assert read_pid(pid_file, marker="pytest") == os.getpid()


def test_a_taken_port_names_the_variable_to_change():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} for Kafka.*SIGNALPOST_KAFKA_BOOTSTRAP"):
            require_free_port(port, what="Kafka", variable="SIGNALPOST_KAFKA_BOOTSTRAP")


def test_a_damaged_postgres_directory_is_refused_with_the_cure(tmp_path):
    cluster = postgres.PostgresCluster(tmp_path, 45432, Path("/nonexistent"))
    cluster.data_dir.mkdir(parents=True)
    (cluster.data_dir / "base").mkdir()
    with pytest.raises(StackError, match="no PG_VERSION.*signalpost postgres reset"):
        postgres.init(cluster, print)
