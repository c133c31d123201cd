"""The SLA report as a text table or CSV (the HTML report is in html.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from services.auditor.figures import Delivery, Figures, Row

HEADER = (
    "dimension", "value", "incidents", "acknowledged", "mtta_p50", "mtta_p90", "resolved",
    "mttr_p50", "mttr_p90", "deadlines", "breached", "sla_compliance", "escalations", "open",
    "cancelled",
)  # fmt: skip


DELIVERY_HEADER = (
    "channel", "attempts", "delivered", "failed", "dead_lettered", "suppressed", "latency_p50",
    "latency_p90", "latency_p99",
)  # fmt: skip


def duration(seconds: float | None) -> str:
    """Seconds as 1h05m, 4m30s or 12s; '-' when there is no value."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def latency(seconds: float | None) -> str:
    """A delivery delay: under ten seconds to the hundredth (0.84s), else as `duration`."""
    if seconds is not None and seconds < 10:
        return f"{seconds:.2f}s"
    return duration(seconds)


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def cells(r: Row) -> tuple[str, ...]:
    """A row as the table shows it."""
    return (
        r.dimension, r.value, str(r.incidents), str(r.acknowledged), duration(r.mtta_p50_s),
        duration(r.mtta_p90_s), str(r.resolved), duration(r.mttr_p50_s), duration(r.mttr_p90_s),
        str(r.deadlines), str(r.breached), share(r.compliance), str(r.escalations), str(r.open),
        str(r.cancelled),
    )  # fmt: skip


def delivery_cells(d: Delivery) -> tuple[str, ...]:
    """A channel's delivery figures as the table shows them."""
    return (
        d.channel, str(d.attempts), str(d.delivered), str(d.failed), str(d.dead_lettered),
        str(d.suppressed), latency(d.latency_p50_s), latency(d.latency_p90_s),
        latency(d.latency_p99_s),
    )  # fmt: skip


def span(f: Figures) -> str:
    """The period in words."""
    start = _when(f.since) if f.since else "the start of the log"
    end = _when(f.until) if f.until else _when(f.at)
    return f"incidents opened from {start} to {end}"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(f: Figures) -> str:
    """Aligned text: the SLA rows, then notification delivery, dead letters and escalations."""
    lines = [f"SLA report: {span(f)}; times are event time (SignalPost's clock)", ""]
    lines += _aligned([HEADER, *(cells(r) for r in f.rows)])
    lines += ["", "notification delivery (latency: from the event told of, delivered attempts)"]
    lines += _aligned([DELIVERY_HEADER, *(delivery_cells(d) for d in f.delivery)])
    lines += ["", "dead letters"]
    letters = [("stage", "topic", "error", "count")]
    letters += [(s, t, e, str(n)) for s, t, e, n in f.dead_letters]
    lines += _aligned(letters) if f.dead_letters else ["  none"]
    lines += ["", "escalations"]
    levels = [("level", "deadline", "count"), *((str(lv), d, str(n)) for lv, d, n in f.escalations)]
    lines += _aligned(levels) if f.escalations else ["  none"]
    return "\n".join(lines)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def csv_text(f: Figures) -> str:
    """One CSV table: SLA rows (durations in seconds), then delivery rows (`delivery`, `channel`,
    the channel or `all`, then the figures of DELIVERY_HEADER in its order, latencies in
    seconds), dead-letter and escalation counts."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", *HEADER))
    for r in f.rows:
        numbers = (
            r.incidents, r.acknowledged, _num(r.mtta_p50_s), _num(r.mtta_p90_s), r.resolved,
            _num(r.mttr_p50_s), _num(r.mttr_p90_s), r.deadlines, r.breached,
            _num(r.compliance, 4), r.escalations, r.open, r.cancelled,
        )  # fmt: skip
        writer.writerow(("sla", r.dimension, r.value, *numbers))
    for d in f.delivery:
        numbers = (
            d.attempts, d.delivered, d.failed, d.dead_lettered, d.suppressed,
            _num(d.latency_p50_s), _num(d.latency_p90_s), _num(d.latency_p99_s),
        )  # fmt: skip
        writer.writerow(("delivery", "channel", d.channel, *numbers))
    for stage, topic, error, n in f.dead_letters:
        writer.writerow(("dead_letters", stage, f"{topic} {error}", n))
    for level, deadline, n in f.escalations:
        writer.writerow(("escalations", f"level {level}", deadline, n))
    return out.getvalue()


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"
