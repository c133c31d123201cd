"""Real local receivers for the notifier's tests: an HTTP server and an SMTP server, in threads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Arrival:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival
    status: int  # what the receiver answered


@dataclass
class HttpReceiver:
    """Answers each path from its script of statuses (then 200), keeping every request."""

    url: str
    scripts: dict[str, list[int]] = field(default_factory=dict)
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str) -> list[Arrival]:
        """The requests that came to `path`, in order."""
        with self.lock:
            return [a for a in self.arrivals if a.path == path]

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            script = self.scripts.get(path, [])
            status = script.pop(0) if script else 200
            self.arrivals.append(Arrival(path, headers, body, time.time(), status))
        return status


@contextmanager
def http_receiver(scripts: dict[str, list[int]] | None = None) -> Iterator[HttpReceiver]:
    """A local HTTP server on a free port, answering POSTs by `scripts` (path -> statuses)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    receiver = HttpReceiver(f"http://127.0.0.1:{server.server_port}", dict(scripts or {}))
    server.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default 5 resets a burst of concurrent connections
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open, as a real receiver would

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver: HttpReceiver = self.server.receiver  # type: ignore[attr-defined]
        status = receiver.answer(self.path, dict(self.headers.items()), body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet in test output
        pass


def unused_port() -> int:
    """A port nothing listens on (bound, read, released): a dead endpoint's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """The messages a local SMTP server accepted."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on a free local port, and what it received."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=unused_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()
