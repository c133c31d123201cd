"""Valid reports built from the committed examples: what the simulator and the fuzzer send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.kinds import TOPIC_OF_KIND

__all__ = ["EXAMPLES", "TOPIC_OF_KIND", "encoded", "report"]

EXAMPLES = Path(__file__).resolve().parent / "json" / "examples" / "valid"
_BASE = {
    "line_fault": "report.line-fault-election-hotline.json",
    "capacity_alarm": "report.capacity-alarm-call-blocking.json",
    "suspicious_parcel": "report.suspicious-parcel-no-sender.json",
}


def report(kind: str, report_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid report of `kind` with its own id; nested keys as 'alarmed_object.id'."""
    payload: dict[str, Any] = json.loads((EXAMPLES / _BASE[kind]).read_text())
    payload["report_id"] = report_id
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        target = payload
        for name in parents:
            target = target[name]
        target[leaf] = value
    return payload


def encoded(payload: dict[str, Any]) -> bytes:
    """The payload as a publisher sends it."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
