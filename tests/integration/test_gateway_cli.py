"""The gateway's CLI as a user runs it: tokens made, listed and revoked; publish; tasks; ack."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from schemas.example_reports import EXAMPLES
from tests.support.gateway_stack import start_gateway, stop_gateway
from tests.support.service_process import SIGNALPOST

pytestmark = pytest.mark.integration
HOTLINE = EXAMPLES / "report.line-fault-election-hotline.json"


async def signalpost(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run the command; its exit code, output and errors."""
    process = await asyncio.create_subprocess_exec(
        SIGNALPOST, *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def cli(topics, database, tmp_path):
    """A running gateway and the environment the CLI needs to reach it and the database."""
    gateway = await start_gateway(topics, tmp_path / "gateway.log")
    env = {
        **os.environ,
        "SIGNALPOST_DB_SCHEMA": topics.db_schema,
        "SIGNALPOST_DATABASE_URL": topics.database_url.get_secret_value(),
        "SIGNALPOST_GATEWAY_URL": gateway.url,
        "SIGNALPOST_TOKEN_FILE": str(tmp_path / "no-token"),
    }
    env.pop("SIGNALPOST_TOKEN", None)
    yield env
    await stop_gateway(gateway)


async def test_tokens_publish_tasks_and_commands_from_the_command_line(cli, test_id, tmp_path):
    code, out, err = await signalpost(cli, "tokens", "create", "--enterprise", "vnpt-quang-nam",
                                      "--role", "publisher", "--label", "NMS",
                                      "--expires-in", "90d")  # fmt: skip
    assert code == 0, err
    assert ", expires 20" in out.splitlines()[0]
    token_id, secret = out.split()[1], out.strip().splitlines()[-1]
    code, _, err = await signalpost(cli, "tokens", "create", "--enterprise", "vnpt-quang-nam",
                                    "--role", "supervisor")  # fmt: skip
    assert code == 1 and "only the Department" in err

    (tmp_path / "token").write_text(secret + "\n")
    with_file = cli | {"SIGNALPOST_TOKEN_FILE": str(tmp_path / "token")}
    code, out, err = await signalpost(with_file, "publish", "line-fault", "--file", str(HOTLINE),
                                      "--set", f"report_id={test_id}-1")  # fmt: skip
    assert code == 0, err
    assert f"accepted report {test_id}-1 incident_key line_fault:vnpt-quang-nam:" in out
    code, _, err = await signalpost(with_file, "publish", "line_fault", "--file", str(HOTLINE),
                                    "--set", "election_critical=maybe")  # fmt: skip
    assert code == 1 and "422" in err and "election_critical" in err

    code, out, _ = await signalpost(cli, "tokens", "list", "--json")
    listed = json.loads(out)
    assert [t["token_id"] for t in listed] == [token_id]
    assert "secret" not in out and secret not in out
    created, expires, used = (
        datetime.fromisoformat(listed[0][f]) for f in ("created_at", "expires_at", "last_used_at")
    )
    assert abs(expires - created - timedelta(days=90)) < timedelta(minutes=1)
    assert created <= used  # by the publish above
    code, out, _ = await signalpost(cli, "tokens", "list")
    heading, row = out.splitlines()
    assert "expires" in heading and "last used" in heading
    assert used.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") in row
    code, _, _ = await signalpost(cli, "tokens", "revoke", token_id)
    assert code == 0
    code, _, err = await signalpost(with_file, "publish", "line_fault", "--file", str(HOTLINE))
    assert code == 1 and "401" in err

    code, out, _ = await signalpost(cli, "tokens", "create", "--enterprise", "vnpt-quang-nam",
                                    "--role", "dispatcher")  # fmt: skip
    dispatcher = cli | {"SIGNALPOST_TOKEN": out.strip().splitlines()[-1]}
    code, out, err = await signalpost(dispatcher, "tasks", "--json")
    assert (code, out) == (0, ""), err
    code, _, err = await signalpost(dispatcher, "ack", "inc-unknown")
    assert code == 1 and "404" in err
    code, _, err = await signalpost(cli, "tasks")
    assert code == 1 and "no token" in err
