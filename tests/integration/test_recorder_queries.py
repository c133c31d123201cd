"""MTTA/MTTR percentiles, SLA breaches and overdue incidents, read by the auditor role."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.runtime import db
from tests.support.lifecycle_samples import incident_story
from tests.support.recorder_run import OPENED, record_events

pytestmark = pytest.mark.integration


@pytest.fixture
async def recorded(topics, database, test_id):
    """Four incidents handled on time in Tiên Phước; in Tam Kỳ one late, one never taken on."""
    events = [e for n in range(4) for e in incident_story(n, OPENED)]
    events += incident_story(4, OPENED, district="tam-ky", pace=5)
    events += incident_story(5, OPENED, district="tam-ky", steps=3)
    await record_events(topics, database, events, f"{test_id}-recorder")
    auditor = await db.connect(topics, url=topics.auditor_database_url)
    yield auditor
    await auditor.close()


async def test_mtta_and_mttr_percentiles_by_enterprise_district_and_kind(recorded):
    rows = await recorded.fetch("SELECT * FROM response_times_by_day")
    by = {(r["dimension"], r["value"]): r for r in rows}
    assert set(by) == {
        ("enterprise", "vnpt-quang-nam"),
        ("district", "tien-phuoc"),
        ("district", "tam-ky"),
        ("kind", "line_fault"),
    }
    everyone = by["enterprise", "vnpt-quang-nam"]
    assert (everyone["incidents"], everyone["acknowledged"], everyone["resolved"]) == (6, 5, 5)
    # Acknowledged after 4, 4, 4, 4 and 20 minutes.
    assert everyone["mtta_p50_s"] == 240
    assert everyone["mtta_p90_s"] == pytest.approx(240 + 0.6 * (1200 - 240))
    assert by["district", "tien-phuoc"]["mttr_p90_s"] == 95 * 60
    assert by["district", "tam-ky"]["mttr_p50_s"] == 95 * 60 * 5
    assert str(everyone["period"]) == "2007-05-20"  # the day in Asia/Ho_Chi_Minh


async def test_sla_breaches_and_overdue_incidents_at_a_given_time(recorded):
    at = OPENED + timedelta(hours=3)
    breaches = {
        (r["incident_id"], r["deadline"]): r
        for r in await recorded.fetch("SELECT * FROM sla_breaches($1)", at)
    }
    assert set(breaches) == {
        ("inc-4", "acknowledge"),
        ("inc-4", "resolve"),
        ("inc-5", "acknowledge"),
        ("inc-5", "resolve"),
    }
    assert breaches["inc-4", "acknowledge"]["late_by"] == timedelta(minutes=5)
    assert not breaches["inc-4", "acknowledge"]["still_open"]
    assert breaches["inc-5", "resolve"]["late_by"] == timedelta(hours=1)
    assert breaches["inc-5", "resolve"]["still_open"]
    overdue = await recorded.fetch("SELECT incident_id FROM overdue_incidents($1)", at)
    assert [r["incident_id"] for r in overdue] == ["inc-5"]
    early = await recorded.fetch("SELECT * FROM overdue_incidents($1)", OPENED)
    assert early == []
