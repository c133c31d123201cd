"""The simulator's HTTP path: reports and dispatcher commands through the gateway, with tokens."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import asyncpg
import httpx
import structlog

from schemas.commands import CommandBase
from schemas.registry import EnterpriseKind, Registry
from services.gateway import ACTIONS, SERVER_FIELDS, Role, create_token, revoke_token
from services.runtime import db
from services.runtime.errors import StackError
from services.runtime.settings import Settings
from services.simulator.scenario import ScenarioMessage

__all__ = ["GatewayPublisher", "GatewayUnreachable"]

log = structlog.get_logger(component="simulator")
# A storm goes through this many connections, kept alive, rather than hundreds of new ones.
CONCURRENCY = 16
# The gateway is started next to the simulator by `signalpost demo`: give it a moment.
READY_WAIT_S = 10.0
RETRIES = 3
ACTION_OF = {command: action for action, command in ACTIONS.items()}
# The gateway answers a command once the incident manager has: accepted, rejected or pending.
COMMAND_OUTCOMES = {200: "accepted", 409: "rejected", 202: "pending"}


class GatewayUnreachable(StackError):
    """The gateway does not answer its health check, so the run cannot use it."""


class GatewayPublisher:
    """Publishes as each report's enterprise and acts as each dispatcher, with run tokens."""

    def __init__(
        self,
        settings: Settings,
        *,
        url: str,
        registry: Registry,
        label: str = "signalpost simulate",
        concurrency: int = CONCURRENCY,
        ready_wait: float = READY_WAIT_S,
    ) -> None:
        self._settings = settings
        self.url = url
        self._label = label
        self._concurrency = concurrency
        self._ready_wait = ready_wait
        self._supervisors = {
            e.id for e in registry.enterprises if e.kind is EnterpriseKind.SUPERVISOR
        }
        self._http: httpx.AsyncClient | None = None
        self._conn: asyncpg.Connection | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._tokens: dict[tuple[str, Role], str] = {}
        self._token_ids: list[str] = []
        self._token_lock = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.failures = 0
        self.refused = 0
        self.reports = 0  # accepted by the gateway
        self.commands: Counter[str] = Counter()  # the gateway's answer to each command

    async def start(self) -> None:
        """Check the gateway answers, then connect to PostgreSQL for the run's tokens."""
        limits = httpx.Limits(
            max_connections=self._concurrency, max_keepalive_connections=self._concurrency
        )
        # No pool timeout: the semaphore already keeps requests within the connections.
        timeout = httpx.Timeout(30, pool=None)
        self._http = httpx.AsyncClient(base_url=self.url, limits=limits, timeout=timeout)
        await self._wait_healthy()
        # The run's tokens are made and revoked as the owner, like `signalpost tokens`.
        self._conn = await db.connect(self._settings, url=self._settings.owner_database_url)

    async def publish_report(self, message: ScenarioMessage) -> None:
        """POST the report as its enterprise, in the background: the schedule does not wait."""
        self._launch(self._post_report(message))

    async def send_command(self, command: CommandBase) -> None:
        """POST the command as its enterprise's dispatcher (Department: supervisor), likewise."""
        self._launch(self._post_command(command))

    async def stop(self) -> None:
        """Wait for the answers, revoke the run's tokens, close."""
        if self._in_flight:
            await asyncio.wait(self._in_flight)
        if self._conn is not None:
            for token_id in self._token_ids:
                await revoke_token(conn=self._conn, token_id=token_id)
            await self._conn.close()
        if self._http is not None:
            await self._http.aclose()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._ready_wait
        while True:
            try:
                answer = await self._client().get("/healthz", timeout=5)
                if answer.status_code == 200:
                    return
                why = f"health {answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                why = repr(exc)
            if time.monotonic() >= deadline:
                raise GatewayUnreachable(
                    f"the gateway at {self.url} is not ready ({why}): start it "
                    "(`signalpost run gateway` or `signalpost up`) or use --via kafka"
                )
            await asyncio.sleep(0.5)

    def _launch(self, work: Coroutine[Any, Any, None]) -> None:
        # Publishers are independent: a gateway slow in a storm delays its own messages,
        # not the Kafka path's. The requests wait for one of `concurrency` slots in `_post`.
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._failed("unexpected", exc)

    async def _post_report(self, message: ScenarioMessage) -> None:
        secret = await self._token(message.reported_by, Role.PUBLISHER)
        answer = await self._post(f"/v1/reports/{message.kind}", message.value, secret)
        if answer is None:
            return
        if answer.status_code == 202:
            self.reports += 1
            return
        # The scenario keys every report by its id.
        self._answer_not_accepted(answer, "report", report_id=(message.key or b"").decode())

    async def _post_command(self, command: CommandBase) -> None:
        role = Role.SUPERVISOR if command.issued_by in self._supervisors else Role.DISPATCHER
        secret = await self._token(command.issued_by, role)
        body, action = self.command_body(command)
        path = f"/v1/incidents/{command.incident_id}/{action}"
        answer = await self._post(path, body, secret)
        if answer is None:
            return
        outcome = COMMAND_OUTCOMES.get(answer.status_code)
        if outcome is None:
            self._answer_not_accepted(answer, "command", command_id=command.command_id)
            return
        self.commands[outcome] += 1
        if outcome == "rejected":
            # The incident manager's own refusal: the tally counts it from the log as well.
            reason = _reason(answer)
            log.info("simulator_command_rejected", command_id=command.command_id, reason=reason)

    @staticmethod
    def command_body(command: CommandBase) -> tuple[bytes, str]:
        """The request body and URL action of a command; the gateway fills in the rest."""
        body = command.model_dump_json(exclude=set(SERVER_FIELDS)).encode()
        return body, ACTION_OF[type(command)]

    async def _post(self, path: str, body: bytes, secret: str) -> httpx.Response | None:
        """The gateway's answer; a lost connection or a 5xx is retried, then a failure."""
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        for attempt in range(1, RETRIES + 1):
            try:
                async with self._slots:
                    answer = await self._client().post(path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem: Any = exc
            else:
                if answer.status_code < 500:
                    return answer
                problem = f"{answer.status_code} {answer.text[:300]}"
            if attempt == RETRIES:
                self._failed(path, problem)
                return None
            # Reports and commands carry their own ids: the gateway takes a resend as a retry.
            await asyncio.sleep(0.2 * 2**attempt)
        return None

    async def _token(self, enterprise: str, role: Role) -> str:
        """The run's token for `enterprise` in `role`, made on first use with the gateway's code."""
        async with self._token_lock:
            if (enterprise, role) not in self._tokens:
                assert self._conn is not None, "tokens are made only after start()"
                made = await create_token(
                    conn=self._conn, enterprise=enterprise, role=role, label=self._label
                )
                self._tokens[enterprise, role] = made.secret
                self._token_ids.append(made.token_id)
            return self._tokens[enterprise, role]

    def _client(self) -> httpx.AsyncClient:
        assert self._http is not None, "requests go only after start()"
        return self._http

    def _answer_not_accepted(self, answer: httpx.Response, what: str, **ids: str) -> None:
        self.refused += 1
        log.warning(
            f"simulator_{what}_refused", status=answer.status_code, reason=_reason(answer), **ids
        )

    def _failed(self, path: str, problem: Any) -> None:
        self.failures += 1
        log.error("simulator_gateway_failed", path=path, error=str(problem)[:300])


def _reason(answer: httpx.Response) -> str:
    """The gateway's reason in one line: its error code and each field's problem."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    if not isinstance(body, dict):
        return answer.text[:300]
    if isinstance(body.get("error"), dict):  # a rejected command nests the shared shape
        body = body["error"]
    problems = "; ".join(f"{p.get('field')}: {p.get('reason')}" for p in body.get("problems", ()))
    return f"{body.get('error')}: {problems}" if problems else str(body.get("error"))
