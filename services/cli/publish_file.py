"""`signalpost publish --file PATH`: a file of reports, one a line (NDJSON), through the
gateway's batch route in chunks; a result for every line, and the refused ones named."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.runtime.errors import ConfigurationError

DEFAULT_CHUNK = 500
OUTCOMES = ("accepted", "duplicate", "refused")


@dataclass(frozen=True)
class Line:
    """One report of the file: its line number, and the report or why it cannot be sent."""

    number: int
    report: dict[str, Any] | None = None
    problem: str = ""


def read_text(path: Path) -> str:
    """The file's text (`-`: standard input); a file that cannot be read is a clear error."""
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None


def single_report(text: str) -> dict[str, Any] | None:
    """The file's report when the whole file is one JSON object (pretty-printed or not)."""
    try:
        whole = json.loads(text)
    except ValueError:
        return None
    return whole if isinstance(whole, dict) else None


def parse_lines(text: str, kind: str | None) -> list[Line]:
    """Each non-blank line as a report of `kind` (None: the line's own `kind`)."""
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            report = json.loads(line)
        except ValueError as exc:
            lines.append(Line(number, problem=f"not JSON: {exc}"))
            continue
        if not isinstance(report, dict):
            lines.append(Line(number, problem="not a JSON object"))
        elif kind is None and not isinstance(report.get("kind"), str):
            lines.append(Line(number, problem="no kind: name KIND, or give each report its kind"))
        else:
            lines.append(Line(number, report))
    return lines


def chunks(lines: Sequence[Line], kind: str | None, size: int) -> Iterator[tuple[str, list[Line]]]:
    """The sendable lines, by kind, in chunks of at most `size`, in the file's order."""
    by_kind: dict[str, list[Line]] = {}
    for line in lines:
        if line.report is not None:
            by_kind.setdefault(kind or str(line.report["kind"]), []).append(line)
    for each, sendable in by_kind.items():
        for start in range(0, len(sendable), size):
            yield each, sendable[start : start + size]


def publish_file(http: httpx.Client, text: str, path: Path, kind: str | None, chunk: int) -> int:
    """Send the reports of `text` (read from `path`); print each line's result and the totals;
    1 if any was refused."""
    lines = parse_lines(text, kind)
    results: dict[int, dict[str, Any]] = {
        line.number: {"status": "refused", "reason": line.problem}
        for line in lines
        if line.report is None
    }
    for each, part in chunks(lines, kind, chunk):
        results.update(_send(http, each.replace("-", "_"), part))
    for number in sorted(results):
        _print_line(number, results[number])
    counts = {s: sum(r["status"] == s for r in results.values()) for s in OUTCOMES}
    print(
        f"{counts['accepted']} accepted, {counts['duplicate']} duplicate,"
        f" {counts['refused']} refused, of {len(results)} reports in {path}"
    )
    return 1 if counts["refused"] else 0


def _send(http: httpx.Client, kind: str, part: list[Line]) -> dict[int, dict[str, Any]]:
    body = b"\n".join(json.dumps(line.report, ensure_ascii=False).encode() for line in part)
    try:
        response = http.post(
            f"/v1/reports/{kind}/batch",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
    except httpx.TransportError as exc:
        raise ConfigurationError(f"cannot reach the gateway at {http.base_url}: {exc}") from None
    if response.status_code != 200:
        # The whole chunk was refused (a limit, the token): every line of it says why.
        error = response.json() if _is_json(response) else None
        reason = f"{response.status_code} {_error_text(error, response.text)}"
        return {line.number: {"status": "refused", "reason": reason} for line in part}
    answers = response.json()["results"]
    return {line.number: _result(answer) for line, answer in zip(part, answers, strict=True)}


def _result(answer: dict[str, Any]) -> dict[str, Any]:
    if answer["status"] != "refused":
        return answer
    return {"status": "refused", "reason": f"{answer['http_status']} {_error_text(answer, '')}"}


def _error_text(error: dict[str, Any] | None, fallback: str) -> str:
    """`code: field: reason; ...` of an error in the shared shape."""
    try:
        assert error is not None
        problems = "; ".join(
            f"{p['field']}: {p['reason']}" if p["field"] else p["reason"] for p in error["problems"]
        )
        return f"{error['error']}: {problems}"
    except (AssertionError, KeyError, TypeError):
        return fallback[:500]


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def _print_line(number: int, result: dict[str, Any]) -> None:
    if result["status"] == "refused":
        print(f"line {number}: refused: {result['reason']}", file=sys.stderr)
    else:
        print(
            f"line {number}: {result['status']} report {result['report_id']}"
            f" incident_key {result['incident_key']}"
        )
