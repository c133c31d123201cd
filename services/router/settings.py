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
    router_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest back-off after a broker failure."
    )
