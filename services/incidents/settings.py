"""The incident manager's settings (variables SIGNALPOST_INCIDENTS_*)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from schemas.registry import REFERENCE_REGISTRY, Registry, RosterHistory
from services.incidents.policy import Policy
from services.runtime.settings import Settings


class PolicySettings(Settings):
    """The incident manager's deployment choices, read alike by it and by `verify`."""

    incidents_retention_seconds: float = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="How long a key whose incident is closed or cancelled stays in the table "
        "after its last event; then its state is deleted (the log keeps every event).",
    )
    incidents_warn_before_seconds: float = Field(
        default=600,
        ge=0,
        description="How long before a deadline the person on duty is warned (at most a fifth "
        "of the time the deadline allows); 0: no warnings.",
    )

    def policy(self, registry: Registry, rosters: RosterHistory = ()) -> Policy:
        """The policy these settings give over `registry` and the rosters' history."""
        warn = timedelta(seconds=self.incidents_warn_before_seconds)
        return Policy.from_registry(
            registry,
            retention=timedelta(seconds=self.incidents_retention_seconds),
            warn_before=warn if warn > timedelta(0) else None,
            rosters=rosters,
        )


class IncidentSettings(PolicySettings):
    """Settings of `signalpost run incidents`."""

    incidents_app_id: str = Field(
        default="signalpost-incidents",
        pattern=r"^[a-z0-9._-]+$",
        description="faust app id: names the consumer group, the table and its changelog topic "
        "(the topic prefix is put before it).",
    )
    incidents_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY, description="Directory of the registry's YAML files."
    )
    incidents_tick_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often due deadlines are looked for."
    )
    incidents_batch_max: int = Field(
        default=100, ge=1, le=10_000, description="Most inputs decided per wait for acks."
    )
    incidents_log_level: str = Field(
        default="warn",
        pattern=r"^(crit|error|warn|info|debug)$",
        description="faust worker log level.",
    )

    @property
    def app_name(self) -> str:
        """The faust app's name, also its consumer group: the app id after the topic prefix."""
        return f"{self.topic_prefix}{self.incidents_app_id}"
