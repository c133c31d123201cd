"""The people's inbox, on this machine: receives the notifier's webhooks and e-mail for the demo
and a local `signalpost up`, checks each webhook's signature, keeps each message once.

The reference rosters send webhooks to http://127.0.0.1:8090/hooks/<enterprise>/<person> and
mail to the notifier's SMTP server, by default 127.0.0.1:8025: this is both. Every message is
one JSON line in `<home>/inbox/messages.jsonl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notifier import NotifierSettings, verify_webhook

__all__ = ["WEBHOOK_PORT", "Inbox", "Received", "inbox_file", "running_inbox", "summary"]

WEBHOOK_PORT = 8090


@dataclass
class Received:
    """What came in: one line of the inbox file per message, each notification once."""

    file: Path
    seen: set[str] = field(default_factory=set)
    refused: int = 0

    def keep(self, entry: dict[str, Any]) -> bool:
        """Write `entry` unless its notification came before (a retry); whether it was new."""
        key = entry.get("idempotency_key") or entry.get("message_id") or ""
        if key and key in self.seen:
            return False
        self.seen.add(key)
        with self.file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return True


def inbox_file(home: Path) -> Path:
    """Where the inbox keeps what it received."""
    return home / "inbox" / "messages.jsonl"


class Inbox:
    """The webhook receiver (Starlette) and the SMTP server (aiosmtpd) over one `Received`."""

    def __init__(
        self, settings: NotifierSettings, *, webhook_port: int, file: Path | None = None
    ) -> None:
        self.secret = settings.webhook_secret()
        self.smtp_host, self.smtp_port = settings.notifier_smtp_host, settings.notifier_smtp_port
        self.webhook_port = webhook_port
        file = file or inbox_file(settings.home)
        file.parent.mkdir(parents=True, exist_ok=True)
        self.received = Received(file)

    async def hook(self, request: Request) -> Response:
        """One webhook: 401 unless its signature verifies, else kept (once) and 204."""
        body = await request.body()
        genuine = verify_webhook(
            self.secret,
            signature=request.headers.get("x-signalpost-signature", ""),
            timestamp=request.headers.get("x-signalpost-timestamp", ""),
            body=body,
            now=time.time(),
        )
        if not genuine:
            self.received.refused += 1
            return Response(status_code=401)
        try:
            message = json.loads(body)
        except ValueError:
            return Response(status_code=400)
        self.received.keep(
            {
                "channel": "webhook",
                "path": request.url.path,
                "idempotency_key": request.headers.get("idempotency-key"),
                "arrived_at": datetime.now().astimezone().isoformat(),
                "message": message,
            }
        )
        return Response(status_code=204)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        """One e-mail (aiosmtpd's handler hook): kept once by its Message-ID."""
        mail = message_from_bytes(envelope.content, policy=policy.default)
        body = mail.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        self.received.keep(
            {
                "channel": "email",
                "to": list(envelope.rcpt_tos),
                "subject": str(mail.get("Subject", "")),
                "message_id": str(mail.get("Message-ID", "")),
                "arrived_at": datetime.now().astimezone().isoformat(),
                "text": body.get_content() if body is not None else "",
            }
        )
        return "250 OK"


@contextlib.asynccontextmanager
async def running_inbox(
    settings: NotifierSettings, *, webhook_port: int = WEBHOOK_PORT, file: Path | None = None
) -> AsyncIterator[Inbox]:
    """The inbox listening on its two ports until the block ends, writing `file` (default:
    the inbox file under the settings' home)."""
    inbox = Inbox(settings, webhook_port=webhook_port, file=file)
    app = Starlette(routes=[Route("/hooks/{path:path}", inbox.hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=webhook_port, log_level="warning", lifespan="off"
        )
    )
    serving = asyncio.create_task(server.serve())
    mail = Controller(inbox, hostname=inbox.smtp_host, port=inbox.smtp_port)
    mail.start()
    try:
        while not server.started:
            if serving.done():  # the port is taken: say so rather than wait for ever
                serving.result()
                raise OSError(f"the inbox could not listen on 127.0.0.1:{webhook_port}")
            await asyncio.sleep(0.05)
        yield inbox
    finally:
        mail.stop()
        server.should_exit = True
        await serving


def summary(file: Path) -> str:
    """What the inbox got: messages by channel, people reached, and delivery delays."""
    entries = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
    hooks = [e for e in entries if e["channel"] == "webhook"]
    mails = [e for e in entries if e["channel"] == "email"]
    people = {e["path"] for e in hooks} | {tuple(e["to"]) for e in mails}
    delays = sorted(
        (
            datetime.fromisoformat(e["arrived_at"])
            - datetime.fromisoformat(e["message"]["occurred_at"])
        ).total_seconds()
        for e in hooks
        if e["message"].get("occurred_at")
    )
    lines = [f"people's inbox: {len(hooks)} webhooks, {len(mails)} e-mails, {len(people)} people"]
    if len(delays) >= 2:
        cuts = statistics.quantiles(delays, n=100)
        lines.append(
            f"  event -> webhook delivered: p50 {cuts[49] * 1000:.0f} ms, "
            f"p99 {cuts[98] * 1000:.0f} ms over {len(delays)}"
        )
    for e in hooks[:3]:
        m = e["message"]
        person = m.get("person", {}).get("name", "?")
        lines.append(
            f"  e.g. {person} ({m.get('enterprise')}): {m.get('reason')}: {m.get('summary')}"
        )
    return "\n".join(lines)
