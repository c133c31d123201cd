"""One service as a child process (`signalpost run NAME`) on given settings, as an operator runs it.

Tests and benchmarks use it to run services on their own topic prefix and schema.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import IO

from infra.kafka.access import service_user
from services.runtime.settings import Settings

SIGNALPOST = str(Path(sys.executable).with_name("signalpost"))


def static_membership(name: str) -> dict[str, str]:
    """The variable that gives service `name` a fixed id in its consumer group, as one
    instance per host runs it: restarted, it takes its partitions back at once."""
    return {"SIGNALPOST_KAFKA_GROUP_INSTANCE_ID": f"{socket.gethostname()}-{name}"}


def kafka_environment(settings: Settings) -> dict[str, str]:
    """The variables that make a child a Kafka client just as `settings` is: same home (where
    the local secrets are), protocol, user and password."""
    env = {
        "SIGNALPOST_HOME": str(settings.home),
        "SIGNALPOST_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "SIGNALPOST_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
    }
    if settings.kafka_username:
        env["SIGNALPOST_KAFKA_USERNAME"] = settings.kafka_username
    if settings.kafka_password:
        env["SIGNALPOST_KAFKA_PASSWORD"] = settings.kafka_password.get_secret_value()
    return env


def as_own_kafka_user(env: dict[str, str], name: str, prefix: str) -> dict[str, str]:
    """`env` for service `name` running as its own Kafka user, with no password: the service
    reads its own from the local secret, so nobody else's password reaches it."""
    own = {k: v for k, v in env.items() if k != "SIGNALPOST_KAFKA_PASSWORD"}
    own["SIGNALPOST_KAFKA_USERNAME"] = service_user(name, prefix)
    return own


def service_environment(settings: Settings, **variables: str) -> dict[str, str]:
    """This process's environment, pointed at `settings`' broker, credentials, prefix and
    schema."""
    return {
        **os.environ,
        **kafka_environment(settings),
        "SIGNALPOST_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SIGNALPOST_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALPOST_DB_SCHEMA": settings.db_schema,
        "SIGNALPOST_DATABASE_URL": settings.database_url.get_secret_value(),
        "SIGNALPOST_LOG_FORMAT": "json",
        **variables,
    }


async def spawn_service(
    name: str,
    settings: Settings,
    output: IO[bytes] | int = asyncio.subprocess.DEVNULL,
    cwd: Path | None = None,
    own_user: bool = False,
    **variables: str,
) -> asyncio.subprocess.Process:
    """Start `signalpost run NAME`; its stdout and stderr go to `output`. With `own_user`,
    it runs as its own Kafka user (made by `stack.prepare`), as `signalpost up` runs it."""
    env = service_environment(settings, **variables)
    if own_user:
        env = as_own_kafka_user(env, name, settings.topic_prefix)
    return await asyncio.create_subprocess_exec(
        SIGNALPOST,
        "run",
        name,
        env=env,
        stdout=output,
        stderr=output,
        cwd=cwd,
    )


def peak_rss_mib(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"process {pid}: no VmHWM in /proc/{pid}/status")
