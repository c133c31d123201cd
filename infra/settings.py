"""Settings of the local stack: heap sizes, cluster ports, time limits, restart back-off."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from infra.supervision import RestartPolicy
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
    supervisor_dir: Path | None = Field(
        default=None,
        description="Where `signalpost up` keeps its pid file and a state file per service; "
        "HOME/supervisor when unset (two `up`s on one stack each need their own).",
    )
    supervisor_restart_delay: float = Field(
        default=1.0, gt=0, le=600, description="Seconds before the first restart of a service."
    )
    supervisor_restart_max_delay: float = Field(
        default=30.0, gt=0, le=3600, description="Longest wait before a restart (back-off cap)."
    )
    supervisor_restart_jitter: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of each back-off taken off at random, so restarts do not align.",
    )
    supervisor_restart_limit: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Most restarts of one service within the window; one more exit and it is "
        "given up (state failed).",
    )
    supervisor_restart_window: float = Field(
        default=300.0, gt=0, description="Seconds over which restarts count towards the limit."
    )
    supervisor_sample_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How often `up` samples consumer lag and health."
    )
    supervisor_stuck_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A running service with lag that has not advanced (the gateway: not "
        "healthy) for this long is stuck.",
    )

    @property
    def state_dir(self) -> Path:
        """Where `signalpost up` keeps its pid file and the services' state files."""
        return self.supervisor_dir or self.home / "supervisor"

    def restart_policy(self) -> RestartPolicy:
        """The supervisor's back-off and limit."""
        return RestartPolicy(
            first_delay=self.supervisor_restart_delay,
            max_delay=self.supervisor_restart_max_delay,
            jitter=self.supervisor_restart_jitter,
            limit=self.supervisor_restart_limit,
            window=self.supervisor_restart_window,
        )
