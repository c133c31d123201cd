"""The simulator's settings: which seed and speed it plays, by which path, on which registry."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.registry import REFERENCE_REGISTRY
from services.runtime.settings import Settings
from services.simulator.paths import Via


class SimulatorSettings(Settings):
    """Settings of `signalpost simulate` (variables SIGNALPOST_SIMULATOR_*); flags override."""

    simulator_seed: int = Field(default=2007, description="Same seed, same reports, byte for byte.")
    simulator_speed: float = Field(
        default=120.0, gt=0, le=1_000_000, description="Simulated seconds per real second."
    )
    simulator_via: Via = Field(
        default=Via.MIXED,
        description="The path in: kafka, gateway (broken messages still via Kafka) or mixed.",
    )
    simulator_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY,
        description="Registry the scenario's lines, districts and enterprises come from.",
    )
