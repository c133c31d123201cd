"""The auditor's settings: where replays go, how they batch, where old rule sets are kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.registry import REFERENCE_REGISTRY
from services.incidents import PolicySettings


class AuditorSettings(PolicySettings):
    """Settings of `signalpost replay|verify|report` (variables SIGNALPOST_AUDITOR_*).

    The incident manager's policy settings are its own variables: verify derives the
    lifecycle again under the same choices."""

    auditor_replay_schema: str = Field(
        default="signalpost_replay",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema a replay rebuilds the projections into (never the live one).",
    )
    auditor_batch_max: int = Field(
        default=5000, ge=1, le=100_000, description="Most messages replayed per transaction."
    )
    auditor_rules_archive: Path | None = Field(
        default=None,
        description="Directory of every rule file ever put in force (*.yaml, searched "
        "recursively), so that old routing decisions can be reproduced.",
    )
    auditor_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY,
        description="Registry that routing decisions are reproduced against.",
    )
    auditor_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A report younger than this without an outcome is in flight, not lost.",
    )
