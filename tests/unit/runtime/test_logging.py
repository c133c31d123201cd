"""Logs are JSON lines off a terminal, and library warnings come out the same way."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from services.runtime.logging import configure_logging
from services.runtime.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_json_lines_carry_level_time_and_fields(capsys):
    configure_logging(Settings(log_format="json"))
    structlog.get_logger(component="router").info("batch_done", routed=12, dead_letters=1)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "batch_done"
    assert line["level"] == "info"
    assert line["component"] == "router"
    assert (line["routed"], line["dead_letters"]) == (12, 1)
    assert line["timestamp"].endswith("Z")


def test_library_warnings_use_the_same_renderer(capsys):
    configure_logging(Settings(log_format="json"))
    logging.getLogger("aiokafka").warning("coordinator dead")
    logging.getLogger("aiokafka").info("chatter")
    lines = capsys.readouterr().err.strip().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["coordinator dead"]


def test_levels_below_the_setting_are_dropped(capsys):
    configure_logging(Settings(log_format="json", log_level="WARNING"))
    structlog.get_logger(component="x").info("hidden")
    structlog.get_logger(component="x").warning("shown")
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.strip().splitlines()]
    assert events == ["shown"]
