"""Alertmanager's webhook notifications for the tests, and waiting for their tasks on a feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.support.polling import eventually

ALERTMANAGER_ROUTE = "/v1/integrations/alertmanager"
VNPT, VIETTEL = "vnpt-quang-nam", "viettel-quang-nam"
# A VNPT subscriber line down in Tiên Phước, labelled as the reference mapping expects.
LINE_DOWN = {
    "alertname": "LineDown",
    "operator": VNPT,
    "district": "tien-phuoc",
    "line": "VNPT-TPH-0042",
    "severity": "critical",
}


def line_key(labels: dict[str, str]) -> str:
    """The incident key of the line fault the reference mapping makes of `labels`."""
    return f"line_fault:{labels['operator']}:{labels['line']}"


def alert(
    labels: dict[str, str],
    *,
    fingerprint: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    **annotations: str,
) -> dict[str, Any]:
    """One alert as Alertmanager sends it: resolved when it has ended."""
    return {
        "status": "firing" if ends_at is None else "resolved",
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts_at.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z" if ends_at is None else ends_at.isoformat(),
        "generatorURL": "http://prometheus.local:9090/graph",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    """A webhook notification (payload version 4) of `alerts`."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "receiver": "signalpost",
        "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local:9093",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
    }


async def task_on_feed(
    dispatcher: httpx.AsyncClient, incident_key: str, status: str, deadline_s: float = 90
) -> dict[str, Any]:
    """The dispatcher's task on `incident_key` once it stands at `status`."""

    async def found() -> dict[str, Any] | None:
        answer = await dispatcher.get("/v1/tasks")
        assert answer.status_code == 200, answer.text
        tasks = answer.json()["tasks"]
        return next(
            (t for t in tasks if t["incident_key"] == incident_key and t["status"] == status),
            None,
        )

    what = f"a {status} task on {incident_key}"
    task: dict[str, Any] = await eventually(found, deadline_s=deadline_s, interval_s=0.3, what=what)
    return task
