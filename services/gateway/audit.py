"""The SLA report over HTTP (`GET /v1/report`): the auditor's own figures and charts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.auditor import figures_json, figures_on, for_enterprise
from services.gateway.access import Role
from services.gateway.deps import Caller, Gw, errors
from services.gateway.errors import ApiError, forbidden

router = APIRouter()


def _utc_unless_named(at: datetime) -> datetime:
    """As `signalpost report --from/--to`: a time naming no offset is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


Instant = Annotated[datetime, AfterValidator(_utc_unless_named)]
TIME_HELP = "ISO 8601 date or time, e.g. 2007-05-20 or 2007-05-20T07:00+07:00 (no offset: UTC)."


class Strict(BaseModel):
    """The answer's parts name every field they carry: nothing more slips out."""

    model_config = ConfigDict(extra="forbid")


class ReportTotals(Strict):
    """Every incident in the period, by where it stands, and its deadlines."""

    incidents: int
    open: int = Field(description="Neither resolved nor cancelled nor closed.")
    resolved: int
    cancelled: int = Field(description="Should not have existed, such as a clear of no alarm.")
    acknowledged: int
    deadlines: int
    breaches: int = Field(description="Deadlines missed, judged at the period's end.")
    escalations: int


class ReportRow(Strict):
    """The SLA figures of one group: all incidents, or one enterprise, district or kind."""

    dimension: str = Field(description="`all`, `enterprise`, `district` or `kind`.")
    value: str = Field(
        description="The group's id; an incident never routed is its report's owner's."
    )
    label: str = Field(description="The registry's name, or the kind's label.")
    incidents: int
    open: int
    cancelled: int
    acknowledged: int
    resolved: int
    mtta_p50_s: float | None = Field(description="Seconds to acknowledge, p50; null: none yet.")
    mtta_p90_s: float | None
    mttr_p50_s: float | None = Field(description="Seconds to resolve, p50; null: none yet.")
    mttr_p90_s: float | None
    ack_deadlines: int
    ack_breaches: int
    ack_met_share: float | None = Field(description="0 to 1; null when there was no deadline.")
    resolve_deadlines: int
    resolve_breaches: int
    resolve_met_share: float | None
    deadlines: int
    breaches: int
    met_share: float | None = Field(description="Both deadlines together (`sla_compliance`).")
    escalations: int


class DeadLetterCount(Strict):
    """Messages a stage could never process, by stage, source topic and error."""

    stage: str
    topic: str
    error: str
    count: int


class EscalationCount(Strict):
    """Escalations by level and the deadline that caused them."""

    level: int
    deadline: str
    count: int


class DeliveryRow(Strict):
    """How the notifications of one channel (`all`: every channel) were delivered."""

    channel: str = Field(description="`all`, `webhook`, `email` or `sms`.")
    attempts: int
    delivered: int
    failed: int = Field(description="Attempts that failed and were tried again.")
    dead_lettered: int = Field(description="Notifications whose last try failed.")
    suppressed: int = Field(description="Not sent: the person's preferences or quiet hours.")
    latency_p50_s: float | None = Field(
        description="Seconds from the event told of to a delivered attempt, p50; null: none."
    )
    latency_p90_s: float | None
    latency_p99_s: float | None


class ReportCharts(Strict):
    """The HTML report's charts, inline SVG with every label escaped; null: nothing to draw."""

    timelines: str | None
    mtta: str | None
    mttr: str | None


class SlaReport(Strict):
    """The figures of `signalpost report` for incidents opened in [since, until)."""

    since: datetime | None
    until: datetime | None
    at: datetime = Field(description="When deadlines were judged: `until`, else now.")
    totals: ReportTotals
    rows: list[ReportRow]
    dead_letters: list[DeadLetterCount] = Field(description="Empty for a dispatcher.")
    escalations: list[EscalationCount]
    delivery: list[DeliveryRow] = Field(
        description="Notification delivery, all channels first; a dispatcher's: to its people."
    )
    charts: ReportCharts


@router.get("/v1/report", response_model=SlaReport, responses=errors(), tags=["report"])
async def sla_report(
    who: Caller,
    gw: Gw,
    since: Annotated[Instant | None, Query(alias="from", description=TIME_HELP)] = None,
    until: Annotated[Instant | None, Query(alias="to", description=TIME_HELP)] = None,
):
    """SLA compliance, MTTA and MTTR by enterprise, district and kind, with the charts.

    The Department and auditors see every incident; a dispatcher its own enterprise's alone.
    """
    if not (who.sees_everything or who.role is Role.DISPATCHER):
        raise forbidden(f"a {who.role} token reads no report")
    if since is not None and until is not None and since >= until:
        raise ApiError(422, "invalid_request", "query.to", "`to` must come after `from`")
    prefix = gw.settings.topic_prefix
    async with gw.database() as conn:
        f = await figures_on(conn, topic_prefix=prefix, since=since, until=until, now=gw.clock())
    if not who.sees_everything:
        f = for_enterprise(f, who.enterprise)
    return figures_json(f, gw.registry)
