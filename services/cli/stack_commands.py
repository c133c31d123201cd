"""The local stack from the command line: up, down, status, kafka, postgres, migrate, topics."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from infra import stack, supervisor
from infra.kafka import local as kafka
from infra.postgres import local as postgres
from infra.process import stop_pid
from infra.settings import StackSettings
from infra.supervision import FINE, ServiceRecord, Shown
from services.cli import kafka_user_commands
from services.cli.runnable import SERVICES
from services.runtime.errors import StackError


def progress(message: str) -> None:
    """One line of what a long step is doing, on stderr so stdout stays for results."""
    print(f"signalpost: {message}", file=sys.stderr, flush=True)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the stack commands on the top-level parser."""
    commands.add_parser("up", help="start Kafka, PostgreSQL and every service in the foreground")
    commands.add_parser("down", help="stop everything `up` or `kafka start` left running")
    status = commands.add_parser("status", help="what runs, where, and whether it is healthy")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser(
        "init", help="make a running Kafka and PostgreSQL ready: roles, topics, migrations"
    )
    topics = commands.add_parser("topics", help="the Kafka topic catalog")
    topics.add_argument("action", choices=["apply"], help="create or check every topic")
    kafka_parser = commands.add_parser("kafka", help="the local Kafka, and its users")
    kafka_actions = kafka_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in ("start", "stop", "reset"):
        parser = kafka_actions.add_parser(action, help=f"{action} the local Kafka")
        parser.add_argument("--cluster", action="store_true", help="the 3-node cluster")
    kafka_user_commands.add_commands(kafka_actions)
    parser = commands.add_parser("postgres", help="the local PostgreSQL")
    parser.add_argument("action", choices=["start", "stop", "reset"])


def run(args: argparse.Namespace, settings: StackSettings) -> int:
    """Run one stack command; the process exit code."""
    handler = {
        "up": _up,
        "down": _down,
        "status": _status,
        "migrate": _migrate,
        "init": _init,
        "topics": _topics,
        "kafka": _kafka,
        "postgres": _postgres,
    }[args.command]
    return handler(args, settings)


def _up(args: argparse.Namespace, settings: StackSettings) -> int:
    def ready() -> None:
        progress("SignalPost is up; Ctrl-C stops it. `signalpost status` in another terminal.")

    return asyncio.run(
        supervisor.run_up(settings, progress, services=sorted(SERVICES), on_ready=ready)
    )


def _down(args: argparse.Namespace, settings: StackSettings) -> int:
    up_pid = supervisor.running_up(settings)
    if up_pid:
        progress(f"stopping `signalpost up` (pid {up_pid})")
        stop_pid(up_pid, timeout=120)
    stopped = stack.stop_components(settings)
    progress(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _status(args: argparse.Namespace, settings: StackSettings) -> int:
    rows = asyncio.run(stack.health(settings))
    up_pid = supervisor.running_up(settings)
    now = datetime.now(UTC)
    services = supervisor.service_states(settings, SERVICES, now) if up_pid else []
    if args.json:
        listed = [{**record.to_json(), "state": shown, "recorded_state": record.state}
                  for record, shown in services]  # fmt: skip
        components = [asdict(r) for r in rows]
        print(
            json.dumps({"up_pid": up_pid, "components": components, "services": listed}, indent=2)
        )
    else:
        print(format_health(rows))
        if services:
            print(format_services(services, now))
        print(f"signalpost up: {'running, pid ' + str(up_pid) if up_pid else 'not running'}")
    healthy = all(r.healthy for r in rows if r.component != "kafka (cluster)")
    return 0 if healthy and all(shown in FINE for _, shown in services) else 1


def format_health(rows: list[stack.Health]) -> str:
    """A small fixed-width table of component health."""
    lines = [f"{'component':<16} {'state':<10} {'where':<32} detail"]
    for row in rows:
        state = "healthy" if row.healthy else ("unhealthy" if row.running else "stopped")
        lines.append(f"{row.component:<16} {state:<10} {row.where:<32} {row.detail}")
    return "\n".join(lines)


def format_services(rows: list[tuple[ServiceRecord, Shown]], now: datetime) -> str:
    """The services' table: state, pid, restarts, lag or health, and how the last exit ended."""
    lines = [f"{'service':<16} {'state':<10} {'pid':>7} {'restarts':>8}  {'lag':<24} last error"]
    for record, shown in rows:
        pid = str(record.pid) if record.pid and shown != "down" else "-"
        lines.append(
            f"{record.service:<16} {shown:<10} {pid:>7} {record.restarts:>8}  "
            f"{_lag(record, shown, now):<24} {_summary(record.last_error)}"
        )
    return "\n".join(lines)


def _lag(record: ServiceRecord, shown: Shown, now: datetime) -> str:
    said = f"{record.lag:,}" if record.lag is not None else record.detail or "-"
    quiet = f"{(now - record.progress_at).total_seconds():.0f}s" if record.progress_at else ""
    if shown == "stuck":
        said += f" (no progress for {quiet})"
    elif shown == "unhealthy":
        said += f" (for {quiet})"
    return _cut(said, 40)


def _summary(last_error: str) -> str:
    """How the last exit ended and the last line of output, on one line."""
    first, *rest = last_error.splitlines() or ["-"]
    return _cut(f"{first}: {' '.join(rest[-1].split())}" if rest else first, 100)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _migrate(args: argparse.Namespace, settings: StackSettings) -> int:
    asyncio.run(stack.apply_migrations(settings, progress))
    return 0


def _init(args: argparse.Namespace, settings: StackSettings) -> int:
    asyncio.run(stack.initialise(settings, progress))
    return 0


def _topics(args: argparse.Namespace, settings: StackSettings) -> int:
    asyncio.run(stack.apply_topics(settings, progress))
    return 0


def _kafka(args: argparse.Namespace, settings: StackSettings) -> int:
    if args.action == "users":
        return kafka_user_commands.run(args, settings)
    deployment = kafka.three_node_cluster(settings) if args.cluster else kafka.single_node(settings)
    if args.action == "start":
        asyncio.run(kafka.start(deployment, settings, progress))
        progress(f"Kafka ({deployment.name}) serving on {deployment.bootstrap}")
    elif args.action == "stop":
        stopped = kafka.stop(deployment)
        progress(f"stopped Kafka nodes: {stopped or 'none were running'}")
    else:
        kafka.reset(deployment)
        progress(f"deleted the local Kafka data in {deployment.directory}")
        # The recorder keeps its offsets in PostgreSQL; against a new, empty log they would
        # point past messages it has never seen.
        progress(
            "PostgreSQL still holds offsets in the deleted log: reset it too "
            "(`signalpost postgres reset`) before the services run again"
        )
    return 0


def _postgres(args: argparse.Namespace, settings: StackSettings) -> int:
    if args.action == "start":
        cluster = postgres.local_cluster(settings, progress)
        asyncio.run(postgres.start(cluster, settings, progress))
        return 0
    cluster = postgres.existing_cluster(settings)
    if cluster is None:
        raise StackError("PostgreSQL is not installed here; nothing to stop or reset")
    if args.action == "stop":
        progress("stopped PostgreSQL" if postgres.stop(cluster) else "PostgreSQL was not running")
    else:
        postgres.reset(cluster)
        progress(f"deleted the local PostgreSQL data in {cluster.directory}")
    return 0
