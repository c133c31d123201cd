"""Tokens, publishing and the dispatcher's work from the command line, through the gateway."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field, SecretStr

from schemas.registry import load_registry
from services.cli.publish_file import DEFAULT_CHUNK, publish_file, read_text, single_report
from services.gateway import (
    KINDS,
    EventDecoder,
    GatewaySettings,
    Role,
    create_token,
    list_tokens,
    revoke_token,
    token_problem,
)
from services.gateway.access import parse_duration
from services.runtime import db
from services.runtime.errors import ConfigurationError
from services.runtime.settings import Settings, load_settings

TOKEN_COMMANDS = ("tokens",)
# CLI verb -> the action in the gateway's URL
ACTIONS = {
    "ack": "acknowledge",
    "start": "start",
    "hold": "hold",
    "resolve": "resolve",
    "reject": "reject",
    "note": "notes",
    "reassign": "reassign",
}
RECONNECT_S = 1.0


class ClientSettings(Settings):
    """Where the gateway is and which token to show it (SIGNALPOST_GATEWAY_URL, ..._TOKEN)."""

    gateway_url: str = Field(
        default="http://127.0.0.1:28080", description="Base URL of the SignalPost gateway."
    )
    token: SecretStr | None = Field(
        default=None, description="API token; when unset, read from token_file."
    )
    token_file: Path = Field(
        default=Path.home() / ".config" / "signalpost" / "token",
        description="File holding the API token (first line), used when no token is set.",
    )

    def secret(self) -> str:
        """The token, from the variable or the file; a clear error when neither has one."""
        if self.token is not None:
            return self.token.get_secret_value()
        try:
            return self.token_file.read_text().strip().splitlines()[0]
        except (OSError, IndexError):
            raise ConfigurationError(
                f"no token: set SIGNALPOST_TOKEN or write one to {self.token_file}"
                " (`signalpost tokens create` makes one)"
            ) from None


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register tokens, publish, tasks and the dispatcher verbs."""
    tokens_cmd = commands.add_parser("tokens", help="API tokens: create, list, revoke")
    actions = tokens_cmd.add_subparsers(dest="tokens_action", required=True)
    create = actions.add_parser("create", help="make a token; its secret is printed once")
    create.add_argument("--enterprise", required=True, help="registry id of the enterprise")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--label", default="", help="who or what the token is for")
    create.add_argument(
        "--expires-in",
        type=_duration,
        metavar="DURATION",
        help="refused from this long after now on: 90d, 12h, 1w2d, 30m (default: never)",
    )
    listing = actions.add_parser("list", help="tokens, newest first (never their secrets)")
    listing.add_argument("--enterprise", help="only this enterprise's tokens")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id", help="the token's id, as `tokens list` shows it")

    publish = commands.add_parser(
        "publish",
        help="publish a report, or a file of them (NDJSON), over the gateway",
        description="One report (--file holding one JSON object, or --set fields), or a file "
        "of reports one a line (NDJSON), sent through the batch route in chunks: a result for "
        "every line; exit 1 when any was refused.",
    )
    publish.add_argument(
        "kind",
        nargs="?",
        help=f"one of {', '.join(KINDS)}; for a file of reports, by default each line's kind",
    )
    publish.add_argument(
        "--file",
        type=Path,
        help="one report (JSON), or one report a line (NDJSON); '-' for standard input",
    )
    publish.add_argument(
        "--chunk",
        type=int,
        default=DEFAULT_CHUNK,
        metavar="N",
        help=f"reports a batch request, for a file of them (default {DEFAULT_CHUNK})",
    )
    publish.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field (dotted for nested: alarmed_object.id=L1); VALUE is JSON or text",
    )

    tasks = commands.add_parser("tasks", help="your enterprise's current tasks")
    tasks.add_argument("--follow", action="store_true", help="keep streaming new versions")
    tasks.add_argument("--enterprise", help="one enterprise's feed (Department, auditors)")
    for name in ("status", "kind", "role", "district", "priority"):
        tasks.add_argument(f"--{name}", help=f"only tasks with this {name}")
    tasks.add_argument("--json", action="store_true", help="one JSON task per line")

    for verb, action in ACTIONS.items():
        cmd = commands.add_parser(verb, help=f"{action} an incident")
        cmd.add_argument("incident", help="incident id")
        cmd.add_argument("--dispatcher", help="your name, for the timeline")
        _verb_options(verb, cmd)


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _verb_options(verb: str, cmd: argparse.ArgumentParser) -> None:
    if verb in ("ack", "start"):
        cmd.add_argument("--note", default="")
    elif verb == "note":
        cmd.add_argument("text")
    elif verb == "resolve":
        cmd.add_argument("--resolution", required=True, help="what was done")
    else:
        cmd.add_argument("--reason", required=True)
    if verb == "hold":
        cmd.add_argument("--until", help="ISO 8601 time work should resume")
    if verb == "reassign":
        cmd.add_argument("--to", required=True, dest="to_enterprise", help="enterprise id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one of this module's commands; the exit code."""
    if args.command in TOKEN_COMMANDS:
        return asyncio.run(run_tokens(args, load_settings(GatewaySettings)))
    client = load_settings(ClientSettings)
    with httpx.Client(
        base_url=client.gateway_url,
        headers={"Authorization": f"Bearer {client.secret()}"},
        timeout=httpx.Timeout(30, read=None if args.command == "tasks" else 30),
    ) as http:
        if args.command == "publish":
            return publish(http, args)
        if args.command == "tasks":
            return follow_tasks(http, args) if args.follow else list_tasks(http, args)
        return act(http, args)


async def run_tokens(args: argparse.Namespace, settings: GatewaySettings) -> int:
    """tokens create|list|revoke, straight against PostgreSQL as the owner role.

    The services' role may not make, revoke or edit a token: only whoever holds
    SIGNALPOST_OWNER_DATABASE_URL (the one who runs migrations) manages them.
    """
    if args.tokens_action == "create":
        problem = token_problem(
            load_registry(settings.gateway_registry_dir), args.enterprise, Role(args.role)
        )
        if problem:
            raise ConfigurationError(problem)
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        if args.tokens_action == "create":
            expires_at = None if args.expires_in is None else datetime.now(UTC) + args.expires_in
            made = await create_token(
                conn=conn,
                enterprise=args.enterprise,
                role=Role(args.role),
                label=args.label,
                expires_at=expires_at,
            )
            until = "" if expires_at is None else f", expires {_when(expires_at)}"
            print(
                f"token {made.token_id} for {made.enterprise} ({made.role}{until});"
                " secret (shown once):"
            )
            print(made.secret)
            return 0
        if args.tokens_action == "list":
            rows = [dict(r) for r in await list_tokens(conn=conn, enterprise=args.enterprise)]
            print(json.dumps(rows, default=str, indent=2) if args.json else _token_table(rows))
            return 0
        if await revoke_token(conn=conn, token_id=args.token_id):
            print(f"revoked {args.token_id}")
            return 0
        print(f"signalpost: no live token {args.token_id}", file=sys.stderr)
        return 1
    finally:
        await conn.close()


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _token_table(rows: list[dict[str, Any]]) -> str:
    times = ("created_at", "expires_at", "last_used_at", "revoked_at")
    widths = (18, 28, 11, 20, 20, 20, 20, 0)
    lines = [("token", "enterprise", "role", "created", "expires", "last used", "revoked", "label")]
    for r in rows:
        lines.append(
            (r["token_id"], r["enterprise"], r["role"], *(_when(r[t]) for t in times), r["label"])
        )
    return "\n".join(
        " ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def report_body(body: dict[str, Any], sets: list[str], now: datetime) -> dict[str, Any]:
    """`body` with the --set fields; times default to now and the id to a fresh one."""
    for assignment in sets:
        dotted, sep, value = assignment.partition("=")
        if not sep:
            raise ConfigurationError(f"--set {assignment!r}: expected FIELD=VALUE")
        *parents, leaf = dotted.split(".")
        target = body
        for name in parents:
            target = target.setdefault(name, {})
        target[leaf] = _json_or_text(value)
    body.setdefault("report_id", f"cli-{uuid.uuid4().hex[:16]}")
    body.setdefault("schema_version", 1)
    body.setdefault("occurred_at", now.isoformat())
    body.setdefault("reported_at", now.isoformat())
    return body


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def publish(http: httpx.Client, args: argparse.Namespace) -> int:
    """POST one report and print its id and incident key; or a file of them, in batches."""
    kind = args.kind.replace("-", "_") if args.kind else None
    now = datetime.now(UTC)
    if args.file is None:
        if kind is None:
            raise ConfigurationError("name the KIND of the report, or give --file")
        return _publish_one(http, kind, report_body({}, args.set, now))
    text = read_text(args.file)
    single = single_report(text)
    if single is not None and (kind or isinstance(single.get("kind"), str)):
        return _publish_one(http, kind or single["kind"], report_body(single, args.set, now))
    if args.set:
        raise ConfigurationError("--set is for one report; a file of reports is sent as it is")
    if args.chunk < 1:
        raise ConfigurationError(f"--chunk {args.chunk}: expected at least 1")
    return publish_file(http, text, args.file, kind, args.chunk)


def _publish_one(http: httpx.Client, kind: str, body: dict[str, Any]) -> int:
    response = http.post(f"/v1/reports/{kind.replace('-', '_')}", json=body)
    if response.status_code != 202:
        return _refused(response)
    answer = response.json()
    print(f"accepted report {answer['report_id']} incident_key {answer['incident_key']}")
    return 0


def _filters(args: argparse.Namespace) -> dict[str, str]:
    names = ("enterprise", "status", "kind", "role", "district", "priority")
    return {n: getattr(args, n) for n in names if getattr(args, n)}


def list_tasks(http: httpx.Client, args: argparse.Namespace) -> int:
    """Print the current tasks."""
    response = http.get("/v1/tasks", params=_filters(args))
    if response.status_code != 200:
        return _refused(response)
    for task in response.json()["tasks"]:
        print(json.dumps(task, ensure_ascii=False) if args.json else task_line(task))
    return 0


def follow_tasks(http: httpx.Client, args: argparse.Namespace) -> int:
    """Stream tasks until interrupted; a dropped connection resumes where it stopped."""
    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with http.stream(
                "GET", "/v1/tasks/stream", params=_filters(args), headers=headers
            ) as response:
                if response.status_code != 200:
                    response.read()
                    return _refused(response)
                decoder = EventDecoder(last_id=last_id)
                for line in response.iter_lines():
                    event = decoder.feed(line)
                    last_id = decoder.last_id
                    if event is None:
                        continue
                    if event.event == "revoked":
                        print("signalpost: the token was revoked", file=sys.stderr)
                        return 1
                    task = json.loads(event.data)
                    print(event.data if args.json else task_line(task), flush=True)
        except httpx.TransportError as exc:
            print(f"signalpost: stream dropped ({exc}); resuming", file=sys.stderr)
        time.sleep(RECONNECT_S)


def task_line(task: dict[str, Any]) -> str:
    """A task on one line."""
    return (
        f"{task['incident_id']}  {task['status']:<12} {task['priority']}  {task['role']:<8} "
        f"{task['enterprise']}  {task['district']}  {task['summary']}"
    )


def act(http: httpx.Client, args: argparse.Namespace) -> int:
    """Send one dispatcher command; print whether it was accepted, rejected (why) or pending."""
    body = {
        name: getattr(args, name)
        for name in ("dispatcher", "note", "text", "reason", "resolution", "until", "to_enterprise")
        if getattr(args, name, None)
    }
    response = http.post(f"/v1/incidents/{args.incident}/{ACTIONS[args.command]}", json=body)
    if response.status_code not in (200, 202, 409):
        return _refused(response)
    answer = response.json()
    if answer["outcome"] == "rejected":
        return _refused(response, answer["error"])
    detail = ", ".join(answer["events"]) or "waiting for the incident manager"
    print(f"{answer['outcome']}: {args.command} {args.incident} ({detail})")
    return 0 if answer["outcome"] == "accepted" else 2


def _refused(response: httpx.Response, error: dict[str, Any] | None = None) -> int:
    try:
        error = error or response.json()
        problems = "; ".join(
            f"{p['field']}: {p['reason']}" if p["field"] else p["reason"] for p in error["problems"]
        )
        text = f"{error['error']}: {problems}"
    except (ValueError, KeyError, TypeError):
        text = response.text[:500]
    print(f"signalpost: {response.status_code} {text}", file=sys.stderr)
    return 1
