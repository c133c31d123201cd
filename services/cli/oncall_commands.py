"""`signalpost oncall`: who of each enterprise is on duty at a moment, by the rosters on disk."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.registry import REFERENCE_REGISTRY, Registry, Rosters, load_registry, load_rosters
from services.runtime.clock import system_clock
from services.runtime.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `oncall` on the top-level parser."""
    oncall = commands.add_parser("oncall", help="say who is on duty at a moment")
    oncall.add_argument(
        "--enterprise", default=None, help="only this enterprise (default: every one with a roster)"
    )
    oncall.add_argument(
        "--at", default=None, metavar="TIME",
        help="ISO 8601 time; without an offset it is the registry's local time (default: now)",
    )  # fmt: skip
    oncall.add_argument(
        "--district", default=None,
        help="the district a task would be in, for enterprises with a team per area",
    )  # fmt: skip
    oncall.add_argument(
        "--registry", type=Path, default=REFERENCE_REGISTRY,
        help="the registry folder whose rosters/ to read (default: the reference registry)",
    )  # fmt: skip
    oncall.add_argument("--json", action="store_true", help="one JSON object per enterprise")


def run(args: argparse.Namespace, _: Settings) -> int:
    """Print who is on duty; 2 for a bad --at or an enterprise without a roster."""
    registry = load_registry(args.registry)
    rosters = load_rosters(args.registry, registry)
    try:
        at = _moment(args.at, rosters)
    except ValueError as exc:
        print(f"signalpost oncall: error: --at: {exc}", file=sys.stderr)
        return 2
    wanted = [args.enterprise] if args.enterprise else [r.enterprise for r in rosters.rosters]
    if args.enterprise and args.enterprise not in rosters.by_enterprise:
        known = (
            "no such enterprise" if registry.enterprise(args.enterprise) is None else "no roster"
        )
        print(f"signalpost oncall: error: --enterprise {args.enterprise}: {known}", file=sys.stderr)
        return 2
    rows = [_row(registry, rosters, e, args.district, at) for e in wanted]
    if args.json:
        print("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    else:
        print(f"on duty at {at.isoformat()} (rosters {rosters.version[:19]}…)")
        print("\n".join(_line(r) for r in rows))
    return 0


def _moment(text: str | None, rosters: Rosters) -> datetime:
    if text is None:
        return system_clock().astimezone(rosters.zone)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=rosters.zone)


def _row(
    registry: Registry, rosters: Rosters, enterprise: str, district: str | None, at: datetime
) -> dict[str, Any]:
    duty = rosters.on_duty(enterprise, district, at)
    assert duty is not None, "asked only for enterprises with a roster"
    found = registry.enterprise(enterprise)
    return {
        "enterprise": enterprise,
        "name": found.name if found else enterprise,
        "team": duty.team.id,
        "person": {"id": duty.person.id, "name": duty.person.name},
        "lead": {"id": duty.lead.id, "name": duty.lead.name},
        "channels": [c.kind.value for c in duty.person.channels],
        "override": duty.override,
        "at": at.isoformat(),
        "roster_version": rosters.version,
    }


def _line(row: dict[str, Any]) -> str:
    shift = "election/override shift" if row["override"] else "weekly shift"
    return (
        f"  {row['enterprise']:<26} {row['person']['name']} (lead {row['lead']['name']}), "
        f"team {row['team']}, {shift}, via {', '.join(row['channels'])}"
    )
