"""The auditor's commands: replay the log, verify the history, report SLA figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from schemas.registry import load_registry
from services.auditor import Figures, figures_json, html, render
from services.auditor.replay import ReplayResult, replay
from services.auditor.report import load_figures
from services.auditor.settings import AuditorSettings
from services.auditor.verify import VerifyResult, verify
from services.runtime.errors import ConfigurationError
from services.runtime.settings import Settings, load_settings

TIME_HELP = "ISO 8601 date or time, e.g. 2007-05-20 or 2007-05-20T07:00+07:00 (no offset: UTC)"


def instant(text: str) -> datetime:
    """A command-line time: ISO 8601, UTC when it names no offset."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `replay`, `verify` and `report`."""
    rep = commands.add_parser(
        "replay", help="rebuild a time range of the log into a replay schema and compare"
    )
    _range(rep)
    rep.add_argument("--into", metavar="SCHEMA", help="replay schema (default: the setting)")
    rep.add_argument(
        "--restart", action="store_true", help="drop what the replay schema holds and start over"
    )
    rep.add_argument("--json", action="store_true", help="machine-readable output")
    ver = commands.add_parser("verify", help="check chains, gaps, report outcomes and routing")
    ver.add_argument(
        "--rules",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a rule file that was once in force (repeatable; adds to the archive)",
    )
    ver.add_argument("--json", action="store_true", help="machine-readable output")
    sla = commands.add_parser(
        "report",
        help="SLA compliance, MTTA and MTTR, escalations and dead letters of the incidents "
        "opened in [--from, --to)",
    )
    _range(sla)
    sla.add_argument("--format", choices=("table", "csv", "html", "json"), default="table")
    sla.add_argument("--output", type=Path, metavar="PATH", help="write here, not to stdout")


def _range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="since", type=instant, metavar="T", help=TIME_HELP)
    parser.add_argument("--to", dest="until", type=instant, metavar="T", help=TIME_HELP)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one auditor command; the exit code (1: a difference or a finding)."""
    auditor = load_settings(AuditorSettings)
    if args.command != "verify" and args.since and args.until and args.since >= args.until:
        raise ConfigurationError("--from must be before --to")
    if args.command == "replay":
        return _replay(args, auditor)
    if args.command == "verify":
        return _verify(args, auditor)
    return _report(args, auditor)


def _replay(args: argparse.Namespace, settings: AuditorSettings) -> int:
    result = asyncio.run(
        replay(settings, since=args.since, until=args.until, into=args.into, restart=args.restart)
    )
    print(_replay_json(result) if args.json else _replay_text(result))
    return int(bool(result.differences))


def _replay_text(result: ReplayResult) -> str:
    o = result.outcome
    lines = [
        f"replayed {result.messages:,} messages into schema {result.schema} in "
        f"{result.seconds:.1f} s ({result.messages / max(result.seconds, 1e-9):,.0f}/s)"
        + (f", resumed after {result.resumed_from:,}" if result.resumed_from else ""),
        f"recorded {o.recorded:,} events, {o.dead_letters:,} dead letters, {o.rule_sets:,} rule "
        f"sets; {o.poison:,} set aside; {result.seeded:,} incidents continued from before the "
        "range",
    ]
    lines.append(
        f"{result.reports:,} reports in the range, {result.reports_in_flight:,} still in flight, "
        f"{len(result.unaccounted):,} with no outcome"
    )
    lines += [f"  {f}" for f in result.unaccounted]
    if not result.differences:
        return "\n".join([*lines, "replay equals live: no differences"])
    lines.append(f"{len(result.differences)} difference(s) from live:")
    return "\n".join([*lines, *(f"  {d}" for d in result.differences)])


def _replay_json(result: ReplayResult) -> str:
    body = asdict(result)
    return json.dumps(body, ensure_ascii=False, indent=2, default=str)


def _verify(args: argparse.Namespace, settings: AuditorSettings) -> int:
    result = asyncio.run(verify(settings, now=datetime.now(UTC), extra_rules=args.rules))
    print(_verify_json(result) if args.json else verify_text(result))
    return int(not result.ok)


def verify_text(result: VerifyResult) -> str:
    lines = [
        f"checked {result.events:,} events of {result.incidents:,} incidents, "
        f"{result.reports:,} reports ({result.in_flight:,} still in flight), "
        f"{result.decisions:,} routing decisions against {result.rule_sets} known rule set(s)",
        f"events anchored to the log: {result.anchored:,} of {result.events:,}",
        f"events derived again from their inputs: {result.rederived:,} of {result.events:,} "
        f"({result.inputs_decided:,} inputs decided again)",
    ]
    if result.ok:
        return "\n".join([*lines, "verified: no findings"])
    lines.append(f"{len(result.findings)} finding(s):")
    return "\n".join([*lines, *(f"  {f}" for f in result.findings)])


def _verify_json(result: VerifyResult) -> str:
    return json.dumps(asdict(result), ensure_ascii=False, indent=2, default=str)


def _report(args: argparse.Namespace, settings: AuditorSettings) -> int:
    f = asyncio.run(
        load_figures(settings, since=args.since, until=args.until, now=datetime.now(UTC))
    )
    formats = {"table": render.table, "csv": render.csv_text, "html": html.html}
    text = _json_report(f, settings) if args.format == "json" else formats[args.format](f)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"report written to {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _json_report(f: Figures, settings: AuditorSettings) -> str:
    """What `GET /v1/report` answers, rows labelled from the auditor's registry."""
    body = figures_json(f, load_registry(settings.auditor_registry_dir))
    return json.dumps(body, ensure_ascii=False, indent=2)
