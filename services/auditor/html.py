"""The SLA report as one self-contained HTML file: tables, timelines and MTTR distributions."""

from __future__ import annotations

from html import escape

from services.auditor import charts
from services.auditor.figures import DIMENSIONS, Figures
from services.auditor.render import DELIVERY_HEADER, HEADER, cells, delivery_cells, span

# The charts' own look: the HTML report and the web console both draw them with it.
CHART_STYLE = """
svg .label{font-size:11px;text-anchor:end;fill:#333}svg .tick{font-size:10px;text-anchor:middle;
fill:#555}svg .axis{stroke:#888}svg .life{stroke:#9aa5b1;stroke-width:3}
svg .open{stroke-dasharray:4 3}svg .cancelled{stroke:#c9ced4;stroke-dasharray:1 3}
svg .cancel{stroke:#5a6572;stroke-width:2}svg .ack{fill:#1f6fd1}svg .resolved{fill:#2e7d32}
svg .due-ack{stroke:#f29900;stroke-width:2}svg .due-resolve{stroke:#b3261e;stroke-width:2}
svg .escalation{fill:#b3261e}svg .whisker{stroke:#777}svg .box{fill:#cfe0f5;stroke:#1f6fd1}
svg .median{stroke:#0b3d91;stroke-width:2}svg .p90{fill:#b3261e}svg .dot{fill:#333;opacity:.45}
"""
STYLE = (
    """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2733;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:8px 0;font-size:12px}
td,th{padding:3px 6px;white-space:nowrap;border-bottom:1px solid #e4e6ea;
text-align:right}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}th{background:#f1f3f6}
.note{color:#5a6572}.bad{color:#b3261e;font-weight:600}
.legend span{margin-right:14px}
"""
    + CHART_STYLE
)
LEGEND = (
    '<p class="legend note"><span>● acknowledged (blue)</span><span>■ resolved (green)</span>'
    "<span>| acknowledge deadline (orange)</span><span>| resolve deadline (red)</span>"
    "<span>◆ escalation (red)</span><span>dashed: still open</span>"
    "<span>✕ dotted: cancelled (grey)</span></p>"
)


def html(f: Figures) -> str:
    """The whole report as one HTML document."""
    svgs = charts.report_charts(f)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>SignalPost SLA report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>SignalPost SLA report</h1>",
        f'<p class="note">{escape(span(f))}. Times are event time (SignalPost\'s clock); '
        "a deadline is met when the step happened, or the incident ended, before it.</p>",
        "<h2>SLA compliance, MTTA and MTTR</h2>",
        _sla_tables(f),
        "<h2>MTTR distribution by enterprise</h2>",
        _distribution(svgs["mttr"]),
        "<h2>MTTA distribution by enterprise</h2>",
        _distribution(svgs["mtta"]),
        "<h2>Incident timelines</h2>",
        _timelines(f, svgs["timelines"]),
        "<h2>Notification delivery</h2>",
        '<p class="note">Every attempt to tell a person of a task, by channel; latency is from '
        "the event told of to the delivered attempt.</p>",
        _simple(DELIVERY_HEADER, [delivery_cells(d) for d in f.delivery]),
        "<h2>Escalations</h2>",
        _simple(("level", "deadline", "count"), f.escalations),
        "<h2>Dead letters</h2>",
        _simple(("stage", "topic", "error", "count"), f.dead_letters),
        "</body></html>",
    ]
    return "\n".join(parts)


def _sla_tables(f: Figures) -> str:
    out = []
    for dimension in ("all", *DIMENSIONS):
        rows = [r for r in f.rows if r.dimension == dimension]
        head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
        body = ""
        for r in rows:
            tds = "".join(f"<td>{escape(c)}</td>" for c in cells(r))
            if r.compliance is not None and r.compliance < 0.9:
                tds = tds.replace(
                    f"<td>{escape(cells(r)[11])}</td>",
                    f'<td class="bad">{escape(cells(r)[11])}</td>',
                )
            body += f"<tr>{tds}</tr>"
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(out)


def _distribution(svg: str | None) -> str:
    if svg is None:
        return '<p class="note">No incident has this time yet.</p>'
    legend = (
        '<p class="note">Whiskers: fastest to slowest; box: p25 to p75; dark line: p50; '
        "red mark: p90; dots: incidents.</p>"
    )
    return legend + svg


def _timelines(f: Figures, svg: str | None) -> str:
    if svg is None:
        return '<p class="note">No incidents in this period.</p>'
    shown = min(len(f.incidents), charts.MAX_TIMELINES)
    note = (
        f'<p class="note">{shown} of {len(f.incidents)} incidents, those that missed a '
        "deadline or escalated first.</p>"
        if shown < len(f.incidents)
        else ""
    )
    return note + LEGEND + svg


def _simple(header: tuple[str, ...], rows: list[tuple]) -> str:
    if not rows:
        return '<p class="note">None.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
