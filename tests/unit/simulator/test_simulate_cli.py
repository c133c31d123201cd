"""`signalpost simulate`: its options, and writing the compressed rules for a run's router."""

from __future__ import annotations

from datetime import datetime

import pytest

from schemas.registry import load_registry
from services.cli.main import build_parser, main
from services.cli.simulate_commands import gateway_url, play_options
from services.router import load_rule_set
from services.runtime.errors import ConfigurationError
from services.runtime.settings import load_settings
from services.simulator.election_2007 import LOCAL, START
from services.simulator.paths import Via
from services.simulator.settings import SimulatorSettings

pytestmark = pytest.mark.unit


def test_the_defaults_play_the_whole_period():
    args = build_parser().parse_args(["simulate", "election-2007"])
    options = play_options(args, SimulatorSettings())
    assert (options.speed, options.duration, options.seed, options.start) == (
        120.0, None, 2007, START,
    )  # fmt: skip
    assert options.via is Via.MIXED


def test_the_simulators_settings_give_the_defaults_and_a_flag_wins(monkeypatch):
    monkeypatch.setenv("SIGNALPOST_SIMULATOR_SPEED", "60")
    monkeypatch.setenv("SIGNALPOST_SIMULATOR_VIA", "kafka")
    settings = load_settings(SimulatorSettings)
    args = build_parser().parse_args(["simulate", "election-2007", "--seed", "7"])
    options = play_options(args, settings)
    assert (options.speed, options.via, options.seed) == (60.0, Via.KAFKA, 7)
    monkeypatch.setenv("SIGNALPOST_SIMULATOR_SPEED", "0")
    with pytest.raises(ConfigurationError, match="SIGNALPOST_SIMULATOR_SPEED"):
        load_settings(SimulatorSettings)


@pytest.mark.parametrize("via", ["kafka", "gateway", "mixed"])
def test_the_path_in_is_chosen_with_via(via):
    args = build_parser().parse_args(["simulate", "election-2007", "--via", via])
    assert args.via is Via(via)


def test_a_start_without_an_offset_is_local_time_in_quang_nam():
    args = build_parser().parse_args(
        ["simulate", "election-2007", "--start", "2007-05-20T18:30", "--speed", "300"]
    )
    assert args.start == datetime(2007, 5, 20, 18, 30, tzinfo=LOCAL)


@pytest.mark.parametrize(
    "option", [["--speed", "0"], ["--duration", "-5"], ["--start", "May"], ["--via", "smtp"]]
)
def test_bad_options_are_refused_with_the_reason(option, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "election-2007", *option])
    assert "simulate: error: argument" in capsys.readouterr().err


def test_write_rules_writes_a_rule_set_the_router_loads(tmp_path, capsys):
    target = tmp_path / "rules.yaml"
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "election-2007", "--speed", "600", "--write-rules", str(target)])
    assert exit_.value.code == 0
    assert str(target) in capsys.readouterr().out
    rules = load_rule_set(target, load_registry())
    assert {rule.ack_within.total_seconds() for rule in rules.rules if rule.ack_within} == {
        0.5, 1.0, 1.5, 3.0, 12.0,
    }  # fmt: skip


def test_the_gateway_is_where_the_variable_says_else_where_run_gateway_listens(monkeypatch):
    monkeypatch.delenv("SIGNALPOST_GATEWAY_URL", raising=False)
    monkeypatch.setenv("SIGNALPOST_GATEWAY_HOST", "0.0.0.0")
    monkeypatch.setenv("SIGNALPOST_GATEWAY_PORT", "28123")
    assert gateway_url() == "http://127.0.0.1:28123"
    monkeypatch.setenv("SIGNALPOST_GATEWAY_URL", "http://gateway.example:8080")
    assert gateway_url() == "http://gateway.example:8080"
