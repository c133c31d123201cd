"""`signalpost simulate`: play the election-2007 scenario against the running system."""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka.errors import KafkaError

from infra.kafka import users as kafka_users
from schemas.registry import Registry, load_registry
from services.cli.gateway_commands import ClientSettings
from services.gateway import GatewaySettings
from services.router import REFERENCE_RULES
from services.runtime.errors import StackError
from services.runtime.settings import Settings, load_settings
from services.simulator import election_2007
from services.simulator.gateway import GatewayPublisher
from services.simulator.paths import Via
from services.simulator.publishers import KafkaPublisher, RoutingPublisher
from services.simulator.rules import write_compressed_rules
from services.simulator.runner import run_scenario
from services.simulator.scenario import Scenario
from services.simulator.settings import SimulatorSettings
from services.simulator.tally import Tally, format_final, format_paths


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `simulate` on the top-level parser."""
    simulate = commands.add_parser(
        "simulate", help="play a seeded scenario (reports and dispatchers) against the system"
    )
    simulate.add_argument("scenario", choices=["election-2007"], help="the scenario to play")
    simulate.add_argument(
        "--speed", type=_positive, default=None,
        help="simulated seconds per real second (default SIGNALPOST_SIMULATOR_SPEED, else 120)",
    )  # fmt: skip
    simulate.add_argument(
        "--duration", type=_positive, default=None, metavar="SECONDS",
        help="stop after this many real seconds (default: the scenario's end, then a drain)",
    )  # fmt: skip
    simulate.add_argument(
        "--seed", type=int, default=None,
        help="same seed, same reports, byte for byte (default SIGNALPOST_SIMULATOR_SEED, "
        "else 2007)",
    )  # fmt: skip
    simulate.add_argument(
        "--start", type=_local_time, default=election_2007.START,
        help="simulated time to start from, e.g. 2007-05-20T18:30 (local time, default 8 May)",
    )  # fmt: skip
    simulate.add_argument(
        "--via", type=Via, choices=list(Via), default=None,
        help="the path in: kafka only, the HTTP gateway (broken messages still via Kafka), or "
        "mixed: parcels, a seeded share of reports and the dispatchers' commands via the "
        "gateway, the rest via Kafka (default SIGNALPOST_SIMULATOR_VIA, else mixed; the "
        "gateway at SIGNALPOST_GATEWAY_URL, else SIGNALPOST_GATEWAY_HOST:PORT)",
    )  # fmt: skip
    simulate.add_argument(
        "--write-rules", type=Path, default=None, metavar="FILE",
        help="only write the reference rules with deadlines divided by --speed to FILE, for "
        "the router of a simulated run (SIGNALPOST_ROUTER_RULES_FILE)",
    )  # fmt: skip


def run(args: argparse.Namespace, _: Settings) -> int:
    """Write the compressed rules, or play the scenario until it ends or Ctrl-C; exit code."""
    settings = load_settings(SimulatorSettings)
    options = play_options(args, settings)
    if args.write_rules is not None:
        path = write_compressed_rules(REFERENCE_RULES, args.write_rules, options.speed)
        print(f"rules with deadlines divided by {options.speed:g} written to {path}")
        return 0
    print(
        "Deadlines are the router's: for escalations at this speed, run it on the rules from "
        f"`signalpost simulate election-2007 --speed {options.speed:g} --write-rules FILE`."
    )
    return play(settings, **vars(options))


@dataclass(frozen=True)
class PlayOptions:
    """What one run plays: the flags where given, else the simulator's settings."""

    seed: int
    speed: float
    duration: float | None
    start: datetime
    via: Via


def play_options(args: argparse.Namespace, settings: SimulatorSettings) -> PlayOptions:
    """The run's options: each flag given wins over its SIGNALPOST_SIMULATOR_* setting."""
    return PlayOptions(
        seed=settings.simulator_seed if args.seed is None else args.seed,
        speed=settings.simulator_speed if args.speed is None else args.speed,
        duration=args.duration,
        start=args.start,
        via=settings.simulator_via if args.via is None else args.via,
    )


def play(
    settings: SimulatorSettings,
    *,
    seed: int,
    speed: float,
    duration: float | None,
    start: datetime,
    via: Via = Via.MIXED,
) -> int:
    """Play election-2007 with a live summary and a final one; 1 if reports were refused."""
    return asyncio.run(
        play_async(settings, seed=seed, speed=speed, duration=duration, start=start, via=via)
    )


async def play_async(
    settings: SimulatorSettings,
    *,
    seed: int,
    speed: float,
    duration: float | None,
    start: datetime,
    via: Via | str = Via.MIXED,
) -> int:
    """`play`, inside a running event loop."""
    via = Via(via)
    registry = load_registry(settings.simulator_registry_dir)
    scenario = election_2007.scenario(
        seed, speed=speed, duration=duration, start=start, registry=registry
    )
    last = scenario.schedule[-1].offset if scenario.schedule else 0.0
    print(
        f"election-2007, seed {seed}, {speed:g}x from {start:%d %b %Y %H:%M}: "
        f"{len(scenario.schedule)} reports over {last:.0f}s, via {via}. Ctrl-C stops."
    )
    gateway = None
    if via is not Via.KAFKA:
        gateway = GatewayPublisher(
            settings, url=gateway_url(), registry=registry, label=f"simulate seed {seed}"
        )
    # Each enterprise that publishes over Kafka does so as itself, on its own topics.
    publishers = {s.message.reported_by for s in scenario.schedule if s.message.reported_by}
    own_users = await kafka_users.create_enterprise_users(
        settings, (e for e in publishers if registry.enterprise(e)), registry
    )
    publisher = RoutingPublisher(
        seed=seed, via=via, kafka=KafkaPublisher(settings, own_users), gateway=gateway
    )
    try:
        tally = await _play(settings, scenario, registry, publisher)
    except KafkaError as exc:
        raise StackError(f"Kafka at {settings.kafka_bootstrap}: {exc}") from None
    failures, refused = publisher.failures, publisher.refused
    print(
        "final summary:\n"
        + format_final(tally, speed=speed, failures=failures, refused=refused)
        + "\n"
        + format_paths(publisher.reports, publisher.commands, gateway.commands if gateway else {})
    )
    if tally.sent > tally.sent_invalid and not tally.opened:
        # Report ids come from the seed: replaying a seed on the same stack is a retry.
        print(
            "no incident was opened: are router and incident manager running (signalpost up)? "
            "A seed already played on this stack only repeats its reports; try another --seed."
        )
    return 1 if failures or refused else 0


def gateway_url() -> str:
    """SIGNALPOST_GATEWAY_URL when set, else where `signalpost run gateway` listens."""
    client = load_settings(ClientSettings)
    if "gateway_url" in client.model_fields_set:
        return client.gateway_url
    served = load_settings(GatewaySettings)
    host = served.gateway_host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # listening everywhere
    return f"http://{host}:{served.gateway_port}"


async def _play(
    settings: Settings, scenario: Scenario, registry: Registry, publisher: RoutingPublisher
) -> Tally:
    """Run until the scenario's end; Ctrl-C or SIGTERM stops it cleanly, summary included."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await run_scenario(settings, scenario, registry=registry, publisher=publisher, stop=stop)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _local_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=election_2007.LOCAL)
