"""`signalpost fuzz`: hostile input against a running system, then the accounting and verify."""

from __future__ import annotations

import argparse
import asyncio
import random
from datetime import UTC, datetime

from services.auditor.settings import AuditorSettings
from services.auditor.verify import VerifyResult, verify
from services.cli.auditor_commands import verify_text
from services.cli.gateway_commands import ClientSettings
from services.fuzz.runner import FuzzResult, run_fuzz
from services.runtime.settings import Settings, load_settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `fuzz`."""
    fuzz = commands.add_parser(
        "fuzz", help="throw hostile input at the running system; every input must be accounted"
    )
    fuzz.add_argument("--count", type=int, default=5000, help="inputs to send (default 5000)")
    fuzz.add_argument("--seed", type=int, default=None, help="same seed, same inputs")
    fuzz.add_argument(
        "--gateway", action="store_true", help="also send some of them over HTTP to the gateway"
    )
    fuzz.add_argument(
        "--drain",
        type=float,
        default=60.0,
        metavar="S",
        help="how long outcomes may stall before the rest count as lost",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the fuzzer; exit 1 when an input has no outcome, a 5xx came back, or verify finds."""
    auditor = load_settings(AuditorSettings)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    url = load_settings(ClientSettings).gateway_url if args.gateway else None
    result, checked = asyncio.run(_fuzz(auditor, args.count, seed, url, args.drain))
    print(fuzz_text(result, seed))
    print(verify_text(checked))
    return int(not (result.ok and checked.ok))


async def _fuzz(
    settings: AuditorSettings, count: int, seed: int, url: str | None, drain: float
) -> tuple[FuzzResult, VerifyResult]:
    result = await run_fuzz(settings, count=count, seed=seed, gateway_url=url, drain_seconds=drain)
    return result, await verify(settings, now=datetime.now(UTC))


def fuzz_text(result: FuzzResult, seed: int) -> str:
    """The run's figures in lines, with what it found."""
    t = result.tally
    http = sum(t.http.values())
    sentinel = "never" if result.sentinel_ms is None else f"{result.sentinel_ms:,.0f} ms"
    lines = [
        f"fuzz seed {seed}: {t.kafka + http:,} inputs ({t.kafka:,} on Kafka, {http:,} over HTTP)"
        f" sent in {result.seconds_sending:.1f} s;"
        f" outcomes awaited {result.seconds_draining:.1f} s",
        f"  Kafka inputs with an outcome: {t.kafka - len(t.unaccounted):,} of {t.kafka:,}",
        "  HTTP answers: " + (", ".join(f"{s}: {n:,}" for s, n in sorted(t.http.items())) or "-"),
        f"  sentinel report -> task: {sentinel}",
        "  inputs by kind: " + ", ".join(f"{k} {n}" for k, n in t.labels.most_common(12)),
    ]
    lines += [f"  NO OUTCOME: {s.input.label} at {s.position}" for s in t.unaccounted[:20]]
    lines += [f"  SERVER ERROR: {e}" for e in t.server_errors[:20]]
    lines.append("fuzz: every input accounted for" if result.ok else "fuzz: FINDINGS above")
    return "\n".join(lines)
