"""`signalpost timeline` and `signalpost incidents` over a recorded log, as the auditor reads it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.cli.main import build_parser
from services.cli.recorder_commands import show_incidents, show_timeline
from tests.support.lifecycle_samples import incident_story
from tests.support.recorder_run import OPENED, record_events

pytestmark = pytest.mark.integration
LATER = OPENED + timedelta(hours=1)


@pytest.fixture
async def recorded(topics, database, test_id):
    """inc-0 handled in Tiên Phước, inc-1 opened in Tam Kỳ and never acknowledged."""
    events = incident_story(0, OPENED) + incident_story(1, OPENED, district="tam-ky", steps=3)
    await record_events(topics, database, events, f"{test_id}-recorder")
    return topics


async def command(settings, *argv: str) -> tuple[str, int]:
    """Run a parsed `timeline` or `incidents` command line; (output, exit code)."""
    args = build_parser().parse_args(list(argv))
    if args.command == "timeline":
        return await show_timeline(args, settings)
    return await show_incidents(args, settings, now=LATER)


async def test_a_timeline_by_id_or_key_shows_every_step_and_the_chain(recorded):
    text, code = await command(recorded, "timeline", "inc-0")
    assert code == 0 and text.endswith("hash chain: intact")
    lines = text.splitlines()
    assert lines[0] == "incident inc-0 (line_fault:vnpt-quang-nam:L-0)"
    assert lines[1].split() == ["seq", "type", "occurred_at", "recorded_at", "actor", "detail"]
    assert [line.split()[1] for line in lines[2:9]] == [
        "incident_opened", "incident_routed", "deadline_set", "incident_acknowledged",
        "work_started", "incident_resolved", "incident_closed",
    ]  # fmt: skip
    assert "2007-05-20 07:04:00Z" in lines[5] and "Trực ban Tiên Phước" in lines[5]
    by_key, _ = await command(recorded, "timeline", "line_fault:vnpt-quang-nam:L-0")
    assert by_key == text
    as_json, _ = await command(recorded, "timeline", "inc-0", "--json")
    body = json.loads(as_json)
    assert body["chain"] == "intact" and [e["sequence"] for e in body["events"]] == [*range(1, 8)]
    assert body["events"][5]["event"]["resolution"] == "Đã nối lại cáp"


async def test_an_unknown_incident_is_a_clear_error(recorded):
    text, code = await command(recorded, "timeline", "inc-404")
    assert code == 1 and "inc-404" in text


FILTERS = [
    ((), ["inc-0", "inc-1"]),
    (("--open",), ["inc-1"]),
    (("--district", "tien-phuoc"), ["inc-0"]),
    (("--enterprise", "viettel-quang-nam"), []),
    (("--overdue",), ["inc-1"]),
    (("--open", "--enterprise", "vnpt-quang-nam", "--district", "tam-ky"), ["inc-1"]),
]


async def test_incidents_filtered(recorded):
    for argv, ids in FILTERS:
        text, _ = await command(recorded, "incidents", *argv, "--json")
        assert sorted(i["incident_id"] for i in json.loads(text)) == ids, argv
        table, _ = await command(recorded, "incidents", *argv)
        assert table.endswith(f"{len(ids)} incident(s)"), argv
