"""`signalpost inbox`: the people's webhooks and mail, received on this machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from services.notifier import NotifierSettings
from services.runtime.settings import Settings, load_settings
from services.simulator.inbox import WEBHOOK_PORT, inbox_file, running_inbox, summary


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `inbox` on the top-level parser."""
    inbox = commands.add_parser(
        "inbox",
        help="receive the notifier's webhooks and e-mail locally (the reference rosters' "
        "addresses) until Ctrl-C, then summarise them",
    )
    inbox.add_argument(
        "--webhook-port", type=int, default=WEBHOOK_PORT,
        help=f"port of the webhook receiver (default {WEBHOOK_PORT}, the reference rosters')",
    )  # fmt: skip
    inbox.add_argument(
        "--summary", action="store_true", help="only summarise what was received so far"
    )


def run(args: argparse.Namespace, _: Settings) -> int:
    """Serve until interrupted (or print the summary); 0."""
    settings = load_settings(NotifierSettings)
    file = inbox_file(settings.home)
    if not args.summary:
        asyncio.run(_serve(settings, args.webhook_port))
    print(summary(file) if file.exists() else f"nothing received yet ({file})")
    return 0


async def _serve(settings: NotifierSettings, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_inbox(settings, webhook_port=port) as inbox:
        print(
            f"webhooks on http://127.0.0.1:{port}/hooks/..., mail on "
            f"{inbox.smtp_host}:{inbox.smtp_port}; writing {inbox.received.file}; Ctrl-C stops",
            flush=True,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
