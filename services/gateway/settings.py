"""The gateway's settings (variables SIGNALPOST_GATEWAY_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.codec import MAX_MESSAGE_BYTES
from schemas.registry import REFERENCE_REGISTRY
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
    gateway_db_pool_size: int = Field(
        default=10, ge=1, le=100, description="Most PostgreSQL connections the gateway holds."
    )
    gateway_lookup_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="How long a command on an incident not yet heard of waits for it before 404.",
    )
