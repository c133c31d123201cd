"""Entry point of the `signalpost` command: one command for every user and the local stack."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.settings import StackSettings
from schemas.__main__ import main as schemas_main
from services.cli import (
    auditor_commands,
    bench_commands,
    demo_commands,
    fuzz_commands,
    gateway_commands,
    inbox_commands,
    onboard_commands,
    oncall_commands,
    recorder_commands,
    simulate_commands,
    stack_commands,
)
from services.cli.runnable import run_service
from services.router import explain_file
from services.runtime.errors import SignalPostError
from services.runtime.logging import configure_logging
from services.runtime.settings import load_settings

# Each module registers its commands with `add_commands(subparsers)` and runs them with
# `run(args, settings) -> exit code`; a new group of commands is one more entry here.
COMMAND_MODULES = (
    stack_commands,
    onboard_commands,
    oncall_commands,
    recorder_commands,
    simulate_commands,
    gateway_commands,
    auditor_commands,
    bench_commands,
    demo_commands,
    fuzz_commands,
    inbox_commands,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="signalpost", description="SignalPost: incident response for postal and telecom"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        known = set(commands.choices)
        module.add_commands(commands)
        for name in set(commands.choices) - known:
            commands.choices[name].set_defaults(handler=module.run)
    run = commands.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", help="service name")
    route = commands.add_parser("route", help="dry-run the routing rules on one report")
    route.add_argument("--explain", type=Path, required=True, metavar="FILE", help="report JSON")
    route.add_argument("--rules", type=Path, default=None, help="rule file (default: reference)")
    route.add_argument("--json", action="store_true", help="machine-readable output")
    contracts = commands.add_parser("schemas", help="write or check the JSON Schema files")
    contracts.add_argument("action", choices=["generate", "check"])
    return parser


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; the exit code."""
    settings = load_settings(StackSettings)
    configure_logging(settings)
    if args.command == "schemas":
        return schemas_main([args.action])
    if args.command == "run":
        run_service(args.service)
        return 0
    if args.command == "route":
        print(explain_file(args.explain, args.rules, as_json=args.json))
        return 0
    return args.handler(args, settings)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run it, and turn expected failures into one clear line."""
    args = build_parser().parse_args(argv)
    try:
        code = dispatch(args)
    except SignalPostError as exc:
        print(f"signalpost: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    main()
