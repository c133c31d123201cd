"""Decode+validate throughput of the codec per report kind, next to plain json.loads, and memory."""

from __future__ import annotations

import gc
import json
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic

from schemas.codec import decode
from schemas.contracts import REPORT

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "json" / "examples" / "valid"
KINDS = {
    "line_fault": "report.line-fault-election-hotline",
    "capacity_alarm": "report.capacity-alarm-call-blocking",
    "suspicious_parcel": "report.suspicious-parcel-no-sender",
}
MESSAGES = 20_000
ROUNDS = 3


def messages(example: str) -> list[bytes]:
    """Distinct encoded reports of one kind, built from its example (ids vary, size does not)."""
    payload = json.loads((EXAMPLES / f"{example}.json").read_text(encoding="utf-8"))
    return [
        json.dumps({**payload, "report_id": f"bench-{n:08d}"}, ensure_ascii=False).encode()
        for n in range(MESSAGES)
    ]


def rate(work: Callable[[bytes], Any], batch: list[bytes]) -> float:
    """Best of ROUNDS runs over the batch, in messages per second."""
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        start = time.perf_counter()
        for data in batch:
            work(data)
        best = min(best, time.perf_counter() - start)
    return len(batch) / best


def peak_kib(work: Callable[[bytes], Any], batch: list[bytes]) -> float:
    """Peak traced memory while decoding the batch and holding every result, in KiB."""
    gc.collect()
    tracemalloc.start()
    kept = [work(data) for data in batch]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return peak / 1024


def main() -> None:
    """Print one line per report kind, then the process's peak resident memory."""
    print(
        f"python {platform.python_version()}, pydantic {pydantic.VERSION}, "
        f"{platform.machine()}, {MESSAGES} messages per kind, best of {ROUNDS}"
    )
    print(
        f"{'kind':<18} {'bytes':>5} {'codec/s':>9} {'json.loads/s':>12} {'json÷codec':>10}"
        f" {'codec peak KiB':>14} {'json peak KiB':>13}"
    )
    for kind, example in KINDS.items():
        batch = messages(example)
        codec = rate(lambda data: decode(REPORT, data), batch)
        plain = rate(json.loads, batch)
        print(
            f"{kind:<18} {len(batch[0]):>5} {codec:>9,.0f} {plain:>12,.0f} {plain / codec:>9.2f}x"
            f" {peak_kib(lambda data: decode(REPORT, data), batch):>14,.0f}"
            f" {peak_kib(json.loads, batch):>13,.0f}"
        )
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1024 if sys.platform == "darwin" else 1
    print(
        f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale:,.0f} KiB"
    )


if __name__ == "__main__":
    main()
