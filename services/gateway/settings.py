"""The gateway's settings (variables SIGNALPOST_GATEWAY_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from schemas.codec import MAX_MESSAGE_BYTES
from schemas.registry import REFERENCE_REGISTRY
from services.gateway.alert_rules import REFERENCE_MAPPING
from services.runtime.acklinks import ACK_LINK_SECRET
from services.runtime.secrets import ensure_secret
from services.runtime.settings import Settings


class GatewaySettings(Settings):
    """Settings of `signalpost run gateway`."""

    gateway_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    gateway_port: int = Field(
        default=28080, ge=1, le=65535, description="Port the HTTP server listens on."
    )
    gateway_max_body_bytes: int = Field(
        default=MAX_MESSAGE_BYTES,
        ge=1024,
        le=MAX_MESSAGE_BYTES,
        description="Largest request body accepted; larger ones get 413.",
    )
    gateway_batch_max_items: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Most reports in one batch (POST /v1/reports/{kind}/batch); more: 413.",
    )
    gateway_batch_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="Largest batch body; larger ones get 413. Each report in it is still held"
        " to the single report's limit.",
    )
    gateway_publish_flushes: int = Field(
        default=2,
        ge=1,
        le=99,
        description="Flushes of single publishes out at once (each in a publish slot);"
        " publishes arriving meanwhile share the next: fewer, larger flushes cost less CPU.",
    )
    gateway_lookup_flushes: int = Field(
        default=2,
        ge=1,
        le=50,
        description="Token lookups out at once; requests arriving meanwhile share the next.",
    )
    gateway_command_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a command waits for the incident manager's answer before 202.",
    )
    gateway_stream_heartbeat_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Idle time after which a task stream sends a comment and rechecks its token.",
    )
    gateway_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY,
        description="Registry the gateway checks reports and token enterprises against.",
    )
    gateway_alertmanager_mapping: Path = Field(
        default=REFERENCE_MAPPING,
        description="Mapping file (YAML) of POST /v1/integrations/alertmanager: which alerts"
        " become which reports, their fields from the alerts' labels and annotations; read and"
        " checked at start-up.",
    )
    gateway_db_pool_size: int = Field(
        default=10, ge=1, le=100, description="Most PostgreSQL connections the gateway holds."
    )
    gateway_lookup_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="How long a command on an incident not yet heard of waits for it before 404.",
    )
    gateway_kafka_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Longest a publish or command waits for Kafka to take its message (a slot"
        " to send in included), and a task read for Kafka to answer, before 503.",
    )
    gateway_db_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Longest a request waits for a PostgreSQL connection and its queries (token"
        " lookups included) before 503.",
    )
    gateway_publish_slots: int = Field(
        default=6,
        ge=1,
        le=99,
        description="Most publishes in flight at once; each holds a PostgreSQL connection while"
        " Kafka takes its report. Below gateway_db_pool_size, so that publishes waiting on a"
        " slow Kafka leave connections for token lookups and commands.",
    )
    gateway_streams_per_token: int = Field(
        default=4, ge=1, le=1000, description="Most task streams one token holds open; more: 429."
    )
    gateway_streams_total: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Most task streams this gateway serves at once (a Kafka consumer each);"
        " more: 429.",
    )

    gateway_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 7,
        description="How long a console sign-in lasts (never beyond its token's expiry).",
    )
    gateway_cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Whether the console's session cookie is Secure: `auto` when the request"
        " came over TLS (directly, or through a trusted proxy's X-Forwarded-Proto), or always,"
        " or never.",
    )

    gateway_ack_link_secret: SecretStr | None = Field(
        default=None,
        description="The key acknowledge links are signed with, shared with the notifier."
        f" Unset: the local secret {ACK_LINK_SECRET!r} (HOME/secrets), made on first use.",
    )

    def ack_link_secret(self) -> str:
        """The acknowledge links' key: as set, else the local secret both services share."""
        if self.gateway_ack_link_secret is not None:
            return self.gateway_ack_link_secret.get_secret_value()
        return ensure_secret(self.home, ACK_LINK_SECRET)

    @field_validator("gateway_publish_slots")
    @classmethod
    def _publishes_leave_connections(cls, slots: int, info: ValidationInfo) -> int:
        pool = info.data.get("gateway_db_pool_size")
        if pool is not None and slots >= pool:
            raise ValueError(f"must be below SIGNALPOST_GATEWAY_DB_POOL_SIZE ({pool})")
        return slots
