"""Pure: the report's charts as inline SVG text (no script, no external resource)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from html import escape

from schemas.kinds import KIND
from services.auditor.figures import Figures, IncidentFigures, percentile

LABEL_W, PLOT_W, ROW_H, AXIS_H = 290, 620, 22, 28
MAX_TIMELINES = 60
ALL_ENTERPRISES = "all enterprises"
# Each distribution chart: the incidents' duration it plots, and its title.
DURATIONS = {"mttr": ("mttr_s", "Time to resolve"), "mtta": ("mtta_s", "Time to acknowledge")}
NICE_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)


def _step(span_min: float) -> int:
    """A round tick interval giving at most about eight ticks."""
    return next((s for s in NICE_STEPS_MIN if span_min / s <= 8), NICE_STEPS_MIN[-1])


def _minutes(label: float) -> str:
    return f"{label / 60:g}h" if label >= 120 and label % 60 == 0 else f"{label:g}m"


def _axis(top: int, span_min: float) -> list[str]:
    parts = []
    step = _step(span_min)
    tick = 0
    while tick <= span_min:
        x = LABEL_W + tick / span_min * PLOT_W
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + 5}" class="axis"/>'
            f'<text x="{x:.1f}" y="{top + 18}" class="tick">{_minutes(tick)}</text>'
        )
        tick += step
    parts.append(
        f'<line x1="{LABEL_W}" y1="{top}" x2="{LABEL_W + PLOT_W}" y2="{top}" class="axis"/>'
    )
    return parts


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _kind_label(kind: str | None) -> str:
    spec = KIND.get(kind or "")
    return spec.label if spec else "?"


def _offset(start: datetime, at: datetime | None) -> float | None:
    return None if at is None else max(0.0, (at - start).total_seconds() / 60)


def _ended(i: IncidentFigures, at: datetime) -> datetime:
    """Where its line ends: resolved, cancelled, or still open at the report's end."""
    return i.resolved_at or (i.closed_at if i.cancelled else None) or at


def _label(i: IncidentFigures) -> str:
    """What the incident was: its kind, the line, resource or item, and whose it is."""
    who = i.accountable or ("cancelled before routing" if i.cancelled else "not routed")
    return " ".join(p for p in (i.incident_id[:18], _kind_label(i.kind), i.subject, who) if p)


def _life_class(i: IncidentFigures) -> str:
    return "life open" if i.open else "life cancelled" if i.cancelled else "life"


def timelines(incidents: Sequence[IncidentFigures], *, at: datetime) -> str:
    """One row per incident, in minutes since it opened: ack, resolution, deadlines, escalations."""
    ends = []
    for i in incidents:
        marks = [
            _ended(i, at),
            i.ack_due_at,
            i.resolve_due_at,
            *(e[0] for e in i.escalations),
        ]
        ends += [_offset(i.opened_at, m) for m in marks if m is not None]
    span_min = max([1.0, *ends]) * 1.03
    x = lambda minutes: LABEL_W + minutes / span_min * PLOT_W  # noqa: E731
    body = []
    for n, i in enumerate(incidents):
        y = 10 + n * ROW_H + ROW_H / 2
        end = _offset(i.opened_at, _ended(i, at))
        body.append(
            f'<text x="{LABEL_W - 8}" y="{y + 4:.1f}" class="label">{escape(_label(i)[:48])}</text>'
            f'<line x1="{x(0):.1f}" y1="{y:.1f}" x2="{x(end):.1f}" y2="{y:.1f}" '
            f'class="{_life_class(i)}"><title>{escape(i.incident_id)}: '
            f"opened {i.opened_at.isoformat()}</title></line>"
        )
        for due, css in ((i.ack_due_at, "due-ack"), (i.resolve_due_at, "due-resolve")):
            if due is not None:
                dx = x(_offset(i.opened_at, due))
                body.append(
                    f'<line x1="{dx:.1f}" y1="{y - 8:.1f}" x2="{dx:.1f}" y2="{y + 8:.1f}" '
                    f'class="{css}"><title>{css[4:]} deadline {due.isoformat()}</title></line>'
                )
        if i.acknowledged_at is not None:
            ax = x(_offset(i.opened_at, i.acknowledged_at))
            body.append(
                f'<circle cx="{ax:.1f}" cy="{y:.1f}" r="4" class="ack"><title>acknowledged '
                f"{i.acknowledged_at.isoformat()}</title></circle>"
            )
        if i.resolved_at is not None:
            rx = x(end)
            body.append(
                f'<rect x="{rx - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" class="resolved">'
                f"<title>resolved {i.resolved_at.isoformat()}</title></rect>"
            )
        if i.cancelled and i.closed_at is not None:
            cx = x(end)
            body.append(
                f'<path d="M{cx - 4:.1f},{y - 4:.1f} l8,8 m0,-8 l-8,8" class="cancel">'
                f"<title>cancelled {i.closed_at.isoformat()}</title></path>"
            )
        for when, level, deadline in i.escalations:
            ex = x(_offset(i.opened_at, when))
            body.append(
                f'<path d="M{ex:.1f},{y - 6:.1f} l5,6 l-5,6 l-5,-6 z" class="escalation">'
                f"<title>escalated to level {level} ({escape(deadline)}) {when.isoformat()}"
                "</title></path>"
            )
    top = 10 + len(incidents) * ROW_H + 4
    body += _axis(top, span_min)
    title = "Incident timelines: minutes since each incident opened"
    return _svg(LABEL_W + PLOT_W + 20, top + AXIS_H, body, title)


def distribution(groups: Sequence[tuple[str, Sequence[float]]], *, what: str) -> str:
    """Box plots of durations (seconds) per group: whiskers min–max, box p25–p75, p50 and p90."""
    shown = [(name, sorted(v)) for name, v in groups if v]
    span_min = max([1.0, *(v[-1] / 60 for _, v in shown)]) * 1.03
    x = lambda seconds: LABEL_W + seconds / 60 / span_min * PLOT_W  # noqa: E731
    body = []
    for n, (name, values) in enumerate(shown):
        y = 10 + n * ROW_H + ROW_H / 2
        q = {p: percentile(values, p) for p in (0.25, 0.5, 0.75, 0.9)}
        label = f"{name} (n={len(values)})"
        body.append(
            f'<text x="{LABEL_W - 8}" y="{y + 4:.1f}" class="label">{escape(label[:48])}</text>'
            f'<line x1="{x(values[0]):.1f}" y1="{y:.1f}" x2="{x(values[-1]):.1f}" y2="{y:.1f}" '
            f'class="whisker"/>'
            f'<rect x="{x(q[0.25]):.1f}" y="{y - 7:.1f}" width="{x(q[0.75]) - x(q[0.25]):.1f}" '
            f'height="14" class="box"><title>{escape(name)}: p25 {q[0.25] / 60:.1f}m, '
            f"p75 {q[0.75] / 60:.1f}m</title></rect>"
            f'<line x1="{x(q[0.5]):.1f}" y1="{y - 7:.1f}" x2="{x(q[0.5]):.1f}" y2="{y + 7:.1f}" '
            f'class="median"><title>p50 {q[0.5] / 60:.1f}m</title></line>'
            f'<path d="M{x(q[0.9]):.1f},{y - 9:.1f} l4,-5 h-8 z" class="p90">'
            f"<title>p90 {q[0.9] / 60:.1f}m</title></path>"
        )
        for k, value in enumerate(values):
            jitter = ((k * 7) % 9 - 4) * 0.9
            body.append(f'<circle cx="{x(value):.1f}" cy="{y + jitter:.1f}" r="1.6" class="dot"/>')
    top = 10 + len(shown) * ROW_H + 4
    body += _axis(top, span_min)
    return _svg(LABEL_W + PLOT_W + 20, top + AXIS_H, body, f"{what} distribution, minutes")


def worth_a_look(incidents: Sequence[IncidentFigures]) -> list[IncidentFigures]:
    """At most MAX_TIMELINES incidents, in opening order: those that missed a deadline or
    escalated first, as they are what an auditor looks at."""
    ranked = sorted(incidents, key=lambda i: (-len(i.breaches), -len(i.escalations), i.opened_at))
    return sorted(ranked[:MAX_TIMELINES], key=lambda i: i.opened_at)


def by_enterprise(
    incidents: Sequence[IncidentFigures], field: str
) -> list[tuple[str, list[float]]]:
    """All enterprises' durations of `field`, then each enterprise's; empty when none has one."""
    groups: dict[str, list[float]] = defaultdict(list)
    for i in incidents:
        value = getattr(i, field)
        if value is not None:
            groups[i.value("enterprise")].append(value)
            groups[ALL_ENTERPRISES].append(value)
    order = sorted(g for g in groups if g != ALL_ENTERPRISES)
    return [(g, groups[g]) for g in ([ALL_ENTERPRISES, *order] if groups else [])]


def report_charts(f: Figures) -> dict[str, str | None]:
    """The report's charts as SVG text: `timelines`, `mttr`, `mtta`; None with nothing to draw."""
    charts: dict[str, str | None] = {
        "timelines": timelines(worth_a_look(f.incidents), at=f.until or f.at)
        if f.incidents
        else None
    }
    for name, (field, what) in DURATIONS.items():
        groups = by_enterprise(f.incidents, field)
        charts[name] = distribution(groups, what=what) if groups else None
    return charts
