"""Notification delivery in the report: counts and latency percentiles per channel and over
all of them, one enterprise's alone, and every form of the report showing them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.registry import load_registry
from services.auditor import figures_json, for_enterprise, html, render
from services.auditor.figures import ALL, AttemptFigures, Delivery, IncidentFigures, figures
from services.gateway.audit import SlaReport

pytestmark = pytest.mark.unit
T0 = datetime(2007, 5, 20, 7, 0, tzinfo=UTC)
VNPT, VIETTEL = "vnpt-quang-nam", "viettel-quang-nam"


def incident(n: int, enterprise: str) -> IncidentFigures:
    return IncidentFigures(
        f"inc-{n}", f"line_fault:{enterprise}:L-{n}", "line_fault", "tien-phuoc", enterprise,
        "acknowledged", T0, T0 + timedelta(minutes=4), None, None, None,
    )  # fmt: skip


def told(n: int, channel: str, outcome: str, latency_s: float, who: str = VNPT) -> AttemptFigures:
    return AttemptFigures(f"inc-{n}", who, channel, outcome, latency_s)


# Ten e-mails delivered after 1..10 s, one failed then dead-lettered; an SMS suppressed, one
# delivered after 30 s; a webhook to Viettel's people on Viettel's incident.
ATTEMPTS = [
    *(told(1, "email", "delivered", float(s)) for s in range(1, 11)),
    told(1, "email", "failed", 50.0),
    told(1, "email", "dead_lettered", 90.0),
    told(1, "sms", "suppressed", 0.5),
    told(1, "sms", "delivered", 30.0),
    told(2, "webhook", "delivered", 2.0, VIETTEL),
]


def sample():
    incidents = [incident(1, VNPT), incident(2, VIETTEL)]
    return figures(incidents, [], since=T0, until=None, at=T0, attempts=ATTEMPTS)


def by_channel(f) -> dict[str, Delivery]:
    return {d.channel: d for d in f.delivery}


def test_counts_and_latency_percentiles_of_the_delivered_attempts_per_channel_and_overall():
    rows = by_channel(sample())
    assert list(rows) == [ALL, "email", "sms", "webhook"]
    email = rows["email"]
    assert (email.attempts, email.delivered, email.failed) == (12, 10, 1)
    assert (email.dead_lettered, email.suppressed) == (1, 0)
    # 1..10 s: p50 5.5, p90 9.1, p99 9.91 (linear between ranks); failures do not count.
    assert email.latency_p50_s == pytest.approx(5.5)
    assert email.latency_p90_s == pytest.approx(9.1)
    assert email.latency_p99_s == pytest.approx(9.91)
    sms = rows["sms"]
    assert (sms.attempts, sms.delivered, sms.suppressed, sms.latency_p50_s) == (2, 1, 1, 30.0)
    overall = rows[ALL]
    assert (overall.attempts, overall.delivered, overall.dead_lettered) == (15, 12, 1)
    assert overall.latency_p99_s == pytest.approx(27.8)  # 1, 2, 2, 3 .. 10, 30 s: 10 + 0.89 * 20


def test_no_attempt_gives_an_all_row_of_zeros_without_latency():
    (only,) = figures([incident(1, VNPT)], [], since=None, until=None, at=T0).delivery
    assert only == Delivery(ALL, 0, 0, 0, 0, 0, None, None, None)


def test_an_enterprise_sees_the_attempts_to_its_own_people_on_its_own_incidents():
    own = for_enterprise(sample(), VIETTEL)
    assert [(d.channel, d.attempts) for d in own.delivery] == [(ALL, 1), ("webhook", 1)]
    stranger = [*ATTEMPTS, told(2, "sms", "delivered", 3.0, VNPT)]
    f = figures([incident(1, VNPT), incident(2, VIETTEL)], [], since=T0, until=None, at=T0,
                attempts=stranger)  # fmt: skip
    assert by_channel(for_enterprise(f, VIETTEL))[ALL].attempts == 1


def test_every_form_of_the_report_shows_delivery():
    f = sample()
    table = render.table(f)
    assert "notification delivery" in table
    email_line = next(line for line in table.splitlines() if line.startswith("email "))
    assert email_line.split() == ["email", "12", "10", "1", "1", "0", "5.50s", "9.10s", "9.91s"]
    rows = [r for r in csv.reader(io.StringIO(render.csv_text(f))) if r[0] == "delivery"]
    assert rows[0] == ["delivery", "channel", "all", "15", "12", "1", "1", "1", "5.5", "9.9",
                       "27.8"]  # fmt: skip
    page = html.html(f)
    assert "<h2>Notification delivery</h2>" in page and "<td>webhook</td>" in page
    out = figures_json(f, load_registry())
    SlaReport.model_validate_json(json.dumps(out))  # the documented shape, exactly
    assert out["delivery"][1] == {
        "channel": "email", "attempts": 12, "delivered": 10, "failed": 1, "dead_lettered": 1,
        "suppressed": 0, "latency_p50_s": pytest.approx(5.5), "latency_p90_s": pytest.approx(9.1),
        "latency_p99_s": pytest.approx(9.91),
    }  # fmt: skip
