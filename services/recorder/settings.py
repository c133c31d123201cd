"""The recorder's settings: its consumer group, how it batches, how long it backs off."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.registry import REFERENCE_REGISTRY
from services.runtime.settings import Settings


class RecorderSettings(Settings):
    """Settings of `signalpost run recorder` (variables SIGNALPOST_RECORDER_*)."""

    recorder_group_id: str = Field(
        default="signalpost-recorder",
        min_length=1,
        description="Kafka consumer group; its offsets are kept in PostgreSQL, not the broker.",
    )
    recorder_batch_max: int = Field(
        default=5000, ge=1, le=100_000, description="Most messages recorded in one transaction."
    )
    recorder_poll_ms: int = Field(
        default=200, ge=1, le=60_000, description="How long one poll waits for messages."
    )
    recorder_retry_max_seconds: float = Field(
        default=10.0, gt=0, description="Longest back-off while PostgreSQL cannot be reached."
    )
    recorder_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY,
        description="Registry whose districts and enterprises fill the reference tables.",
    )
