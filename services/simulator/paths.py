"""Which way each message goes in, Kafka or the HTTP gateway: pure, the same for a seed."""

from __future__ import annotations

import random
from enum import StrEnum

from services.simulator.scenario import ScenarioMessage

__all__ = ["GATEWAY_SHARE", "Path", "Via", "command_path", "report_path"]

# Network management systems publish on Kafka; post offices have no NMS and use the gateway,
# and some operators' smaller systems do too.
GATEWAY_SHARE = 0.3
GATEWAY_KINDS = frozenset({"suspicious_parcel"})


class Path(StrEnum):
    """A way into SignalPost."""

    KAFKA = "kafka"
    GATEWAY = "gateway"


class Via(StrEnum):
    """The `--via` choice of a run."""

    KAFKA = "kafka"
    GATEWAY = "gateway"
    MIXED = "mixed"


def report_path(message: ScenarioMessage, *, seed: int, via: Via) -> Path:
    """The path of one report message: the same for the same seed and message."""
    # A broken message would only be refused at the gateway's door; on Kafka it becomes
    # a dead letter with its reason, as a faulty NMS's messages do.
    if via is Via.KAFKA or not message.valid:
        return Path.KAFKA
    if via is Via.GATEWAY or message.kind in GATEWAY_KINDS:
        return Path.GATEWAY
    draw = random.Random(f"path:{seed}:{message.key!r}").random()
    return Path.GATEWAY if draw < GATEWAY_SHARE else Path.KAFKA


def command_path(via: Via) -> Path:
    """The path of the simulated dispatchers' commands: the gateway unless the run is Kafka only."""
    return Path.KAFKA if via is Via.KAFKA else Path.GATEWAY
