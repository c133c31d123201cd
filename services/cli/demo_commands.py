"""`signalpost demo`: the whole system up on its embedded defaults, playing election day 2007.

Kafka and PostgreSQL start (or are reused), every service starts with deadlines compressed
to the scenario's speed, the scenario plays with a live summary, and the auditor verifies
the history and writes the HTML report. The services stop at the end; Kafka and
PostgreSQL stay up so the recorded history can be looked at (`signalpost down` stops them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from infra import stack, supervisor
from infra.settings import StackSettings
from infra.spawn import spawn_service
from services.auditor import html
from services.auditor.report import load_figures
from services.auditor.settings import AuditorSettings
from services.auditor.verify import verify
from services.cli import simulate_commands
from services.cli.auditor_commands import verify_text
from services.cli.runnable import SERVICES
from services.cli.stack_commands import progress
from services.gateway import GatewaySettings, Role, create_token
from services.incidents.settings import IncidentSettings
from services.notifier import NotifierSettings
from services.recorder.settings import RecorderSettings
from services.router import REFERENCE_RULES, RouterSettings
from services.runtime import db, lag
from services.runtime.errors import StackError
from services.runtime.kafka import admin_client
from services.runtime.settings import load_settings
from services.simulator import election_2007
from services.simulator.inbox import inbox_file, running_inbox
from services.simulator.inbox import summary as inbox_summary
from services.simulator.rules import write_compressed_rules
from services.simulator.settings import SimulatorSettings

DEMO_SPEED = 600.0
DEMO_SECONDS = 90.0
# The cable cut of 19 May: a storm, escalations and the evening's load in a short run.
DEMO_START = datetime(2007, 5, 19, 14, 0, tzinfo=election_2007.LOCAL)
READY_WAIT_S = 180.0
# Who the demo signs in to the console: a district's telecom dispatcher and the Department.
CONSOLE_USERS = (
    ("VNPT's dispatcher", "vnpt-quang-nam", Role.DISPATCHER),
    ("the Department (supervisor)", "so-bcvt-quang-nam", Role.SUPERVISOR),
    ("an auditor", "so-bcvt-quang-nam", Role.AUDITOR),
)
DRAIN_WAIT_S = 120.0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `demo` on the top-level parser."""
    demo = commands.add_parser(
        "demo", help="bring everything up and play election day 2007, then verify and report"
    )
    demo.add_argument("--speed", type=float, default=DEMO_SPEED, help="simulated s per real s")
    demo.add_argument(
        "--duration", type=float, default=DEMO_SECONDS, metavar="SECONDS",
        help=f"real seconds of scenario (default {DEMO_SECONDS:g})",
    )  # fmt: skip
    demo.add_argument(
        "--seed", type=int, default=None,
        help="scenario seed (default: a new one each run, printed, so a run can be repeated)",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: StackSettings) -> int:
    """Run the demo; 0 when the auditor's verify found nothing."""
    if (pid := supervisor.running_up(settings)) is not None:
        raise StackError(
            f"`signalpost up` is running (pid {pid}); stop it first: the demo runs its own "
            "services, with deadlines compressed to the scenario's speed"
        )
    demo_dir = settings.home / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    # Report ids come from the seed, and a seed replayed on the same stack is only a retry.
    seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000
    rules = write_compressed_rules(
        REFERENCE_RULES, demo_dir / f"rules-{args.speed:g}x.yaml", args.speed
    )
    return asyncio.run(_demo(settings, args, seed, rules, demo_dir))


async def _demo(
    settings: StackSettings, args: argparse.Namespace, seed: int, rules: Path, demo_dir: Path
) -> int:
    await stack.start_components(settings, progress)
    await stack.prepare(settings, progress)
    notifier = load_settings(NotifierSettings)
    inbox_file(notifier.home).unlink(missing_ok=True)  # this run's messages only
    async with running_inbox(notifier) as inbox:
        progress(
            f"the people's inbox listens for webhooks and mail; it writes {inbox.received.file}"
        )
        children = await _start_services(settings, demo_dir / "logs", rules)
        try:
            await _wait_ready(settings)
            signs_in = await _console_sign_ins()
            print(signs_in, flush=True)
            played = await simulate_commands.play_async(
                load_settings(SimulatorSettings),
                seed=seed,
                speed=args.speed,
                duration=args.duration,
                start=DEMO_START,
                via="mixed",
            )
            await _wait_drained(settings)
        finally:
            await _stop(children)
    print(inbox_summary(inbox.received.file))
    found = await _audit(rules, demo_dir, seed)
    print(signs_in.replace("while the scenario plays", "again after `signalpost up`"))
    return found or played


async def _console_sign_ins() -> str:
    """Where the web console is, and fresh tokens for VNPT's dispatcher and the Department."""
    gateway = load_settings(GatewaySettings)
    conn = await db.connect(gateway, url=gateway.owner_database_url)
    try:
        made = {
            who: await create_token(conn=conn, enterprise=enterprise, role=role, label="demo")
            for who, enterprise, role in CONSOLE_USERS
        }
    finally:
        await conn.close()
    lines = [f"web console, live while the scenario plays: {console_url(gateway)}"]
    lines += [f"  sign in as {who}: {token.secret}" for who, token in made.items()]
    return "\n".join(lines)


def console_url(gateway: GatewaySettings) -> str:
    """The console's address on this machine (a gateway bound to every address: localhost)."""
    host = "127.0.0.1" if gateway.gateway_host in ("0.0.0.0", "::") else gateway.gateway_host
    return f"http://{host}:{gateway.gateway_port}/console"


async def _start_services(
    settings: StackSettings, logs: Path, rules: Path
) -> list[asyncio.subprocess.Process]:
    logs.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    children = []
    for name in sorted(SERVICES):
        with (logs / f"{name}.log").open("ab") as log:
            children.append(
                await spawn_service(
                    name, settings, log, own_user=True,
                    SIGNALPOST_ROUTER_RULES_FILE=str(rules), SIGNALPOST_LOG_FORMAT="console",
                )
            )  # fmt: skip
    progress(f"services started: {', '.join(sorted(SERVICES))}; their logs are in {logs}")
    return children


def _groups() -> lag.PipelineGroups:
    """The consumer groups of router, incident manager and recorder, from their settings."""
    return lag.PipelineGroups(
        router=load_settings(RouterSettings).router_group_id,
        incidents=load_settings(IncidentSettings).app_name,
        recorder=load_settings(RecorderSettings).recorder_group_id,
    )


async def _wait_ready(settings: StackSettings) -> None:
    """Until the router, the incident manager and the recorder have joined their groups."""
    groups = _groups()
    wanted = {groups.router, groups.incidents, groups.recorder}
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        async with admin_client(settings) as admin:
            joined = {group for group, _ in await admin.list_consumer_groups()}
        if wanted <= joined:
            progress("every service has joined its consumer group")
            return
        await asyncio.sleep(1)
    raise StackError(f"services not ready in {READY_WAIT_S:.0f}s; see {settings.home}/demo/logs")


async def _wait_drained(settings: StackSettings) -> None:
    """Until every service has caught up with what the scenario wrote (or a time limit)."""
    deadline = time.monotonic() + DRAIN_WAIT_S
    while time.monotonic() < deadline:
        if not (backlog := await lag.pipeline_backlog(settings, _groups())):
            return
        progress(f"waiting for the services to catch up: {backlog:,} messages behind")
        await asyncio.sleep(2)
    progress(f"still behind after {DRAIN_WAIT_S:.0f}s; verify will list what is in flight")


async def _stop(children: list[asyncio.subprocess.Process]) -> None:
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
    for child in children:
        await child.wait()
    progress("services stopped; Kafka and PostgreSQL keep running (`signalpost down` stops them)")


async def _audit(rules: Path, demo_dir: Path, seed: int) -> int:
    """Verify the whole history and write the HTML report; 1 on any finding."""
    auditor = load_settings(AuditorSettings)
    result = await verify(auditor, now=datetime.now(UTC), extra_rules=[rules])
    print("auditor's verify:\n" + verify_text(result))
    figures = await load_figures(auditor, since=None, until=None, now=datetime.now(UTC))
    report = demo_dir / "report.html"
    report.write_text(html.html(figures), encoding="utf-8")
    print(f"HTML report: {report}")
    print(f"repeat this run with: signalpost demo --seed {seed}")
    return int(not result.ok)
