"""Which path each message takes (Kafka or the gateway), and what the gateway path sends."""

from __future__ import annotations

import json
import socket
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from schemas.kinds import KIND
from schemas.registry import load_registry
from services.gateway.commands import build_command
from services.runtime.settings import Settings
from services.simulator.dispatch import acknowledge, resolve
from services.simulator.election_2007 import scenario
from services.simulator.gateway import (
    ACTION_OF,
    GatewayPublisher,
    GatewayUnreachable,
    _reason,
)
from services.simulator.paths import GATEWAY_SHARE, Path, Via, command_path, report_path
from services.simulator.publishers import RoutingPublisher
from tests.support.simulator_samples import RecordingPublisher, open_task

pytestmark = pytest.mark.unit

REGISTRY = load_registry()
SEED = 11
MESSAGES = [i.message for i in scenario(SEED, speed=3600, registry=REGISTRY).schedule]


def _paths(seed: int, via: Via) -> list[Path]:
    return [report_path(m, seed=seed, via=via) for m in MESSAGES]


def test_the_same_seed_sends_each_message_the_same_way():
    assert _paths(SEED, Via.MIXED) == _paths(SEED, Via.MIXED)
    assert _paths(SEED, Via.MIXED) != _paths(SEED + 1, Via.MIXED)


def test_mixed_sends_parcels_and_a_seeded_share_via_the_gateway_broken_ones_via_kafka():
    chosen = dict(zip(MESSAGES, _paths(SEED, Via.MIXED), strict=True))
    parcels = [m for m in MESSAGES if m.valid and m.kind == "suspicious_parcel"]
    broken = [m for m in MESSAGES if not m.valid]
    others = [m for m in MESSAGES if m.valid and m.kind != "suspicious_parcel"]
    assert parcels and broken and len(others) > 1000
    assert {chosen[m] for m in parcels} == {Path.GATEWAY}
    assert {chosen[m] for m in broken} == {Path.KAFKA}
    share = Counter(chosen[m] for m in others)[Path.GATEWAY] / len(others)
    assert abs(share - GATEWAY_SHARE) < 0.05


def test_kafka_only_and_gateway_only_runs():
    assert set(_paths(SEED, Via.KAFKA)) == {Path.KAFKA}
    via_gateway = dict(zip(MESSAGES, _paths(SEED, Via.GATEWAY), strict=True))
    assert {p for m, p in via_gateway.items() if m.valid} == {Path.GATEWAY}
    assert {p for m, p in via_gateway.items() if not m.valid} == {Path.KAFKA}
    assert command_path(Via.KAFKA) is Path.KAFKA
    assert command_path(Via.MIXED) is command_path(Via.GATEWAY) is Path.GATEWAY


def test_gateway_messages_know_their_kind_and_publisher():
    for message in MESSAGES:
        if message.valid:
            body = json.loads(message.value)
            assert (message.kind, message.reported_by) == (body["kind"], body["reported_by"])


@pytest.mark.parametrize("seed", [SEED, 1, 2007])
def test_every_report_the_gateway_may_send_is_its_publishers_own(seed):
    """The gateway refuses a report about another enterprise's network, with its token."""
    messages = scenario(seed, speed=3600, registry=REGISTRY).schedule
    valid = [json.loads(i.message.value) for i in messages if i.message.valid]
    assert {body["kind"] for body in valid} == set(KIND)
    for body in valid:
        assert body[KIND[body["kind"]].owner] == body["reported_by"], body["report_id"]


async def test_the_routing_publisher_hands_each_message_to_its_path():
    kafka, gateway = RecordingPublisher(), RecordingPublisher()
    routing = RoutingPublisher(seed=SEED, via=Via.MIXED, kafka=kafka, gateway=gateway)
    await routing.start()
    for message in MESSAGES[:300]:
        await routing.publish_report(message)
    command = acknowledge(open_task(1), seed=SEED, now=datetime.now(UTC), dispatcher="Trực ban")
    await routing.send_command(command)
    await routing.stop()
    expected = _paths(SEED, Via.MIXED)[:300]
    assert kafka.reports == [
        m for m, p in zip(MESSAGES[:300], expected, strict=True) if p is Path.KAFKA
    ]
    assert gateway.reports == [
        m for m, p in zip(MESSAGES[:300], expected, strict=True) if p is Path.GATEWAY
    ]
    assert (kafka.commands, gateway.commands) == ([], [command])
    assert routing.reports == Counter(expected) and routing.commands == {Path.GATEWAY: 1}


@pytest.mark.parametrize("make", [acknowledge, resolve])
def test_a_dispatcher_command_is_the_body_the_gateway_turns_back_into_that_command(make):
    task = open_task(2)
    command = make(task, seed=SEED, now=datetime.now(UTC), dispatcher="Trực ban Tam Kỳ")
    body, action = GatewayPublisher.command_body(command)
    rebuilt = build_command(
        action,
        body,
        incident_id=command.incident_id,
        incident_key=command.incident_key,
        issued_by=command.issued_by,
        now=command.issued_at,
        new_id="unused",
    )
    assert rebuilt == command and action == ACTION_OF[type(command)]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (422, {"error": "invalid_report", "problems": [{"field": "district", "reason": "unknown"}]},
         "invalid_report: district: unknown"),
        (409, {"outcome": "rejected", "error": {"error": "invalid_transition", "problems": []}},
         "invalid_transition"),
    ],
)  # fmt: skip
def test_the_gateways_reason_in_one_line(status, body, reason):
    assert _reason(httpx.Response(status, json=body)) == reason


async def test_a_gateway_that_is_not_there_stops_the_run_at_start_with_what_to_do():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publisher = GatewayPublisher(
        Settings(), url=f"http://127.0.0.1:{port}", registry=REGISTRY, ready_wait=0.3
    )
    with pytest.raises(GatewayUnreachable) as refused:
        await publisher.start()
    await publisher.stop()
    message = str(refused.value)
    assert "\n" not in message
    assert "signalpost run gateway" in message and "--via kafka" in message
