"""The router's settings: where its rules and registry are, how it batches and reloads."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.registry import REFERENCE_REGISTRY
from services.router.loading import REFERENCE_RULES
from services.runtime.settings import Settings


class RouterSettings(Settings):
    """Settings of `signalpost run router` (variables SIGNALPOST_ROUTER_*)."""

    router_rules_file: Path = Field(
        default=REFERENCE_RULES, description="The routing rule set (YAML); reloaded on change."
    )
    router_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY, description="Directory of the registry's YAML files."
    )
    router_group_id: str = Field(
        default="signalpost-router", min_length=1, description="Kafka consumer group."
    )
    router_batch_max: int = Field(
        default=2000, ge=1, le=100_000, description="Most reports taken from Kafka per batch."
    )
    router_poll_ms: int = Field(
        default=200, ge=1, le=60_000, description="How long one poll waits for reports."
    )
    router_reload_seconds: float = Field(
        default=2.0, gt=0, description="How often the rule file is checked for changes."
    )
    router_in_flight_max: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Most batches sent and not yet acknowledged while the next is decided.",
    )
    router_group_interval_ms: int = Field(
        default=2000,
        ge=0,
        le=3_600_000,
        description="Grouping window per incident key: repeats within it become one update "
        "at its end; 0 turns grouping off (repeats collapse within one batch only).",
    )
    router_group_windows_max: int = Field(
        default=10_000, ge=1, description="Most grouping windows open; the oldest closes early."
    )
    router_group_held_max: int = Field(
        default=100_000,
        ge=1,
        description="Most reports held in all windows; the oldest window is released early.",
    )
    router_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest back-off after a broker failure."
    )
