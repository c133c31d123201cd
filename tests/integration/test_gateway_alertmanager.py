"""Alertmanager's webhook at the real gateway, with the router and the incident manager
running: a firing alert becomes a task on its enterprise's feed, an alert about another
operator's line is refused on its own, a resend is a duplicate, a resolved alert clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.alert_payloads import (
    ALERTMANAGER_ROUTE,
    LINE_DOWN,
    VIETTEL,
    VNPT,
    alert,
    line_key,
    notification,
    task_on_feed,
)
from tests.support.gateway_stack import gateway_running

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(running_system, tmp_path):
    async with gateway_running(running_system[0], tmp_path / "gateway.log") as running:
        yield running


def outcomes(answer) -> list[tuple[str, str | None, str | None]]:
    """Each alert's status, and for a refused one its error and the field it names."""
    assert answer.status_code == 200, answer.text
    return [
        (r["status"], r.get("error"), r["problems"][0]["field"] if "problems" in r else None)
        for r in answer.json()["results"]
    ]


async def test_alerts_become_tasks_resends_are_duplicates_and_resolved_alerts_clear(gateway):
    publisher = gateway.client(await gateway.token(VNPT, "publisher"))
    dispatcher = gateway.client(await gateway.token(VNPT, "dispatcher"))
    started = datetime.now(UTC).replace(microsecond=0)
    own = alert(LINE_DOWN, fingerprint="a1b2c3d4e5f60001", starts_at=started, summary="87%")
    theirs_labels = {**LINE_DOWN, "operator": VIETTEL, "line": "VTL-TK-0042"}
    theirs = alert(theirs_labels, fingerprint="a1b2c3d4e5f60002", starts_at=started)
    unmapped = alert({"alertname": "DiskFull"}, fingerprint="a1b2c3d4e5f60003", starts_at=started)

    first = await publisher.post(ALERTMANAGER_ROUTE, json=notification(own, theirs, unmapped))
    assert outcomes(first) == [
        ("accepted", None, None),
        ("refused", "impersonation", "operator"),
        ("refused", "unmapped_alert", "labels"),
    ]
    body = first.json()
    assert (body["accepted"], body["duplicate"], body["refused"]) == (1, 0, 2)
    assert [r["fingerprint"] for r in body["results"]] == [
        "a1b2c3d4e5f60001", "a1b2c3d4e5f60002", "a1b2c3d4e5f60003"
    ]  # fmt: skip
    report_id = f"am-a1b2c3d4e5f60001-{int(started.timestamp())}"
    assert body["results"][0]["report_id"] == report_id
    assert body["results"][1]["http_status"] == 403
    task = await task_on_feed(dispatcher, line_key(LINE_DOWN), "open")
    assert (task["enterprise"], task["role"]) == (VNPT, "primary")

    # Alertmanager resends the group every group_interval, its annotations evaluated again.
    resent = {**own, "annotations": {"summary": "91%"}}
    again = await publisher.post(ALERTMANAGER_ROUTE, json=notification(resent))
    assert outcomes(again) == [("duplicate", None, None)]
    assert again.json()["results"][0]["report_id"] == report_id

    ended = alert(LINE_DOWN, fingerprint="a1b2c3d4e5f60001", starts_at=started,
                  ends_at=started + timedelta(seconds=30))  # fmt: skip
    cleared = await publisher.post(ALERTMANAGER_ROUTE, json=notification(ended))
    assert outcomes(cleared) == [("accepted", None, None)]
    assert cleared.json()["results"][0]["report_id"] == f"{report_id}-resolved"
    resolved = await task_on_feed(dispatcher, line_key(LINE_DOWN), "resolved")
    assert resolved["incident_id"] == task["incident_id"]


async def test_a_body_that_is_no_notification_is_refused_whole_naming_the_field(gateway):
    publisher = gateway.client(await gateway.token(VNPT, "publisher"))
    wrong = {**notification(), "version": "3", "alerts": []}
    answer = await publisher.post(ALERTMANAGER_ROUTE, json=wrong)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_payload"
    assert {p["field"] for p in answer.json()["problems"]} == {"version", "alerts"}
    dispatcher = gateway.client(await gateway.token(VNPT, "dispatcher"))
    refused = await dispatcher.post(ALERTMANAGER_ROUTE, json=notification())
    assert refused.status_code == 403
