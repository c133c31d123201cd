"""An auditor's session from the command line: verify, replay, then open the HTML report.

A history made by the real routing engine and incident state machine is recorded by
`signalpost run recorder`; the auditor's commands run as an auditor runs them, and the HTML
report is rendered by a real headless Chromium, which must log no console error.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.codec import encode
from schemas.deadletter import DeadLetter, OriginalBytes, SourcePosition
from schemas.errors import ErrorBody, Problem
from schemas.registry import load_registry
from services.auditor import access
from services.router import REFERENCE_RULES, load_rule_set
from services.runtime.kafka import make_producer
from services.runtime.topics import DEAD_LETTERS, LINE_FAULT_REPORTS, topic_name
from tests.support.audit_history import (
    START,
    activation,
    cleared_first,
    publish_history,
    scenario,
)
from tests.support.polling import eventually
from tests.support.service_process import SIGNALPOST, start_service

pytestmark = pytest.mark.e2e
REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
CHROMIUM = shutil.which("chromium")
CONSOLE = re.compile(r":CONSOLE[:(]")


async def publish_rejected_report(settings) -> None:
    """A malformed report and the router's dead letter for it, at its exact log position."""
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = topic_name(LINE_FAULT_REPORTS, settings.topic_prefix)
        sent = await producer.send_and_wait(topic, b"{ not json", key=b"bad")
        letter = DeadLetter(
            source=SourcePosition(topic=topic, partition=sent.partition, offset=sent.offset),
            key=OriginalBytes.from_bytes(b"bad"),
            value=OriginalBytes.from_bytes(b"{ not json"),
            error=ErrorBody(error="invalid_report", problems=(Problem(field="", reason="JSON"),)),
            rejected_by="router",
            dead_lettered_at=START + timedelta(hours=1),
        )
        dead = topic_name(DEAD_LETTERS, settings.topic_prefix)
        await producer.send_and_wait(dead, encode(letter))
    finally:
        await producer.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SIGNALPOST, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def console_errors(page: Path) -> list[str]:
    """Console lines (errors, uncaught exceptions, failed loads) Chromium logs for the page."""
    done = subprocess.run(
        [
            CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
            "--v=0", "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "</svg>" in done.stdout, "Chromium did not render the page's SVG"
    return [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


async def recorded_all(pool, events: int) -> None:
    """Wait, with a deadline, until every event and the dead letter are in PostgreSQL."""

    async def all_in() -> bool:
        found = await pool.fetchrow(
            "SELECT (SELECT count(*) FROM incident_events) AS events,"
            " (SELECT count(*) FROM dead_letters) AS letters"
        )
        return found["events"] >= events and bool(found["letters"])

    await eventually(all_in, deadline_s=90, interval_s=0.3)


@pytest.fixture
async def recorded(topics, database, test_id, tmp_path):
    """Forty incidents, six cancelled before routing and a dead letter, recorded by the
    recorder service; its CLI env."""
    history = scenario(40, rules=RULES, registry=REGISTRY)
    cleared = cleared_first(6, rules=RULES, registry=REGISTRY)
    start = activation(RULES, REGISTRY, START - timedelta(hours=1), str(REFERENCE_RULES))
    events = await publish_history(topics, [history, cleared], [start])
    await publish_rejected_report(topics)
    log = tmp_path / "recorder.log"
    recorder = await start_service(
        "recorder", topics, log, SIGNALPOST_RECORDER_GROUP_ID=f"{test_id}-recorder"
    )
    try:
        await recorded_all(database, events)
    finally:
        recorder.send_signal(signal.SIGTERM)
        await asyncio.wait_for(recorder.wait(), timeout=60)
    env = {
        **os.environ,
        "SIGNALPOST_KAFKA_BOOTSTRAP": topics.kafka_bootstrap,
        "SIGNALPOST_TOPIC_PREFIX": topics.topic_prefix,
        "SIGNALPOST_DB_SCHEMA": topics.db_schema,
        "SIGNALPOST_AUDITOR_REPLAY_SCHEMA": f"{test_id}_replay",
        "SIGNALPOST_LOG_FORMAT": "json",
    }
    yield env
    conn = await access.connect(topics, writable=True)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{test_id}_replay" CASCADE')
    finally:
        await conn.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
async def test_an_auditor_verifies_replays_and_opens_the_html_report(recorded, tmp_path):
    verified = cli(recorded, "verify")
    replayed = cli(recorded, "replay")
    page = tmp_path / "report.html"
    html = cli(recorded, "report", "--format", "html", "--output", str(page))
    table = cli(recorded, "report", "--format", "table")
    csv = cli(recorded, "report", "--format", "csv", "--from", "2007-05-19", "--to", "2007-05-21")

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: no findings" in verified.stdout
    assert replayed.returncode == 0 and "replay equals live" in replayed.stdout, replayed.stdout
    assert "ETA" in replayed.stderr and "/s" in replayed.stderr
    assert html.returncode == 0, html.stderr
    assert "vnpt-quang-nam" in table.stdout and "invalid_report" in table.stdout
    assert csv.stdout.startswith("section,dimension,value,incidents")
    text = page.read_text()
    # Self-contained: nothing fetched from anywhere (the SVG namespace is a name, not a fetch).
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", text)
    assert text.count("<svg") == 3 and "Incident timelines" in text
    # The six cancelled incidents are drawn cancelled, named, and counted as cancelled.
    assert text.count('class="life cancelled"') == 6 and "cancelled (grey)" in text
    assert "line ?" not in text and "(none)" not in table.stdout + csv.stdout
    assert console_errors(page) == []


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
def test_the_console_check_sees_a_page_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<svg></svg><script>console.error('boom'); missing();</script>")
    assert len(console_errors(page)) == 2
