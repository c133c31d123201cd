"""`signalpost kafka users create|list|revoke`: who may reach the brokers, and what they may do."""

from __future__ import annotations

import argparse
import asyncio

from infra.kafka import users
from infra.kafka.access import SERVICES
from infra.settings import StackSettings
from schemas.registry import load_registry


def add_commands(kafka_actions: argparse._SubParsersAction) -> None:
    """Register `users` under `signalpost kafka`."""
    parser = kafka_actions.add_parser(
        "users", help="Kafka users: a SCRAM credential plus the ACLs of the access table"
    )
    actions = parser.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a user, or put its ACLs back")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--enterprise",
        metavar="ID",
        help="onboard an enterprise of the registry: its report topics, task feed, user (a "
        "new password, shown once) and ACLs",
    )
    who.add_argument(
        "--service",
        choices=[*SERVICES, "all"],
        help="a service's user; its password is the local secret the service reads itself",
    )
    actions.add_parser("list", help="every user and how many ACL bindings it holds")
    revoke = actions.add_parser("revoke", help="take a user's ACLs and credential away")
    revoke.add_argument("user", help="the user's name, as `kafka users list` shows it")


def run(args: argparse.Namespace, settings: StackSettings) -> int:
    """Run one `kafka users` command; the exit code."""
    if args.users_action == "list":
        rows = asyncio.run(users.list_users(settings))
        width = max((len(r.name) for r in rows), default=4)
        print(f"{'USER':<{width}}  ACLS")
        for row in rows:
            print(f"{row.name:<{width}}  {row.acls}")
    elif args.users_action == "revoke":
        removed = asyncio.run(users.revoke_user(settings, args.user))
        print(f"revoked {args.user}: credential deleted, {removed} ACL bindings removed")
    elif args.enterprise:
        user, password = asyncio.run(
            users.create_enterprise_user(settings, args.enterprise, load_registry())
        )
        print(f"user: {user}\npassword: {password}")
        print("(the password is shown only now; run create again to issue a new one)")
    else:
        services = SERVICES if args.service == "all" else (args.service,)
        for user in asyncio.run(users.create_service_users(settings, services)):
            print(f"user: {user} (password: the local secret kafka-{user})")
    return 0
