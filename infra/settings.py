"""Settings of the local stack: heap sizes, cluster ports, time limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from services.runtime.settings import Settings


class StackSettings(Settings):
    """How the local Kafka and PostgreSQL are run (the ports come from the shared URLs)."""

    kafka_heap: str = Field(
        default="1g",
        pattern=r"^[1-9][0-9]*[mg]$",
        description="JVM heap of a single local broker (-Xmx); a cluster node gets half.",
    )
    kafka_cluster_base_port: int = Field(
        default=29110,
        ge=1024,
        le=65000,
        description="Node n of the 3-node cluster listens on base+10*(n-1), its controller on +1.",
    )
    kafka_ready_timeout: float = Field(
        default=120.0, gt=0, description="Seconds to wait for a broker to serve metadata."
    )
    superuser_database_url: SecretStr | None = Field(
        default=None,
        description="Superuser URL for `signalpost init` to create the database and roles "
        "on a server SignalPost did not start (Docker, managed PostgreSQL).",
    )
    postgres_bin_dir: Path | None = Field(
        default=None,
        description="Directory of initdb/pg_ctl; found under /usr/lib/postgresql when unset.",
    )
