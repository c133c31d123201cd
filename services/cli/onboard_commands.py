"""`signalpost onboard ENTERPRISE`: let an enterprise of the registry in, on Kafka and HTTP
alike, with one command; every credential is shown once and kept nowhere."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

from infra.kafka import users as kafka_users
from infra.settings import StackSettings
from schemas.registry import Registry, load_registry
from services.gateway import NewToken, Role, create_token, token_problem
from services.runtime import db
from services.runtime.errors import ConfigurationError
from services.runtime.settings import Settings

DEFAULT_ROLES = (Role.PUBLISHER, Role.DISPATCHER)


@dataclass(frozen=True)
class Onboarded:
    """What an enterprise was given: its Kafka user and password, and its API tokens."""

    enterprise: str
    kafka_user: str
    kafka_password: str
    tokens: tuple[NewToken, ...]


async def onboard(
    settings: Settings, enterprise: str, registry: Registry, roles: tuple[Role, ...]
) -> Onboarded:
    """Its Kafka user, topics and ACLs, and one token per role (as the owner role)."""
    for role in roles:
        if problem := token_problem(registry, enterprise, role):
            raise ConfigurationError(problem)
    made = await kafka_users.create_enterprise_users(settings, [enterprise], registry)
    user, password = made[enterprise]
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        tokens = tuple(
            [
                await create_token(conn=conn, enterprise=enterprise, role=role, label="onboarded")
                for role in roles
            ]
        )
    finally:
        await conn.close()
    return Onboarded(enterprise, user, password, tokens)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `onboard`."""
    parser = commands.add_parser(
        "onboard",
        help="let an enterprise of the registry in: its Kafka user, topics and ACLs, and its "
        "API tokens",
    )
    parser.add_argument("enterprise", help="the enterprise's id in the registry")
    parser.add_argument(
        "--role",
        action="append",
        choices=[r.value for r in Role],
        help="an API token of this role (repeatable; default: publisher and dispatcher)",
    )


def run(args: argparse.Namespace, settings: StackSettings) -> int:
    """Onboard, and print every credential once."""
    roles = tuple(Role(r) for r in args.role) if args.role else DEFAULT_ROLES
    done = asyncio.run(onboard(settings, args.enterprise, load_registry(), roles))
    print(f"{done.enterprise} is onboarded; each secret is shown only now.")
    print(f"kafka user: {done.kafka_user}\nkafka password: {done.kafka_password}")
    print(f"publishes on: reports.{done.enterprise}.<kind>; reads tasks.{done.enterprise}")
    for token in done.tokens:
        print(f"api token {token.token_id} ({token.role}): {token.secret}")
    return 0
