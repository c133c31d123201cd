"""The table of report kinds, and the readings every service makes of a report: its incident
key, whose network it is about, and whether it says the alarm is over. Adding a kind: its
model in reports.py, and one row here; its contract, topic and checks follow from the row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from schemas.envelope import ReportEnvelope
from schemas.registry.models import EnterpriseKind
from schemas.reports import (
    AnyReport,
    CapacityAlarm,
    LineFault,
    PerceivedSeverity,
    ReportKind,
    SuspiciousParcel,
)

__all__ = [
    "KIND",
    "REPORT_KINDS",
    "TOPIC_OF_KIND",
    "KindSpec",
    "incident_key",
    "is_clear",
    "owner",
]

R = TypeVar("R", bound=ReportEnvelope)


@dataclass(frozen=True)
class KindSpec(Generic[R]):
    """One kind of report: its tag, its model, its topic, its label, its owner field, its key,
    and the field naming what it is about."""

    kind: ReportKind
    model: type[R]
    topic: str  # the catalog name publishers send it on (before any topic prefix)
    label: str  # short, as charts show it
    owner: str  # the field naming the enterprise whose network or office the report is about
    owner_kind: EnterpriseKind  # what kind of enterprise that field must name
    key: Callable[[R], str]
    subject: str  # the dotted field naming the line, resource or item, as charts show it


def _line_fault_key(report: LineFault) -> str:
    """One line of one operator: the same line id at two operators is two incidents."""
    return f"line_fault:{report.operator}:{report.alarmed_object.id}"


def _capacity_alarm_key(report: CapacityAlarm) -> str:
    """One resource and one measure: blocking and utilisation on one switch are apart."""
    return f"capacity_alarm:{report.operator}:{report.alarmed_object.id}:{report.metric}"


def _suspicious_parcel_key(report: SuspiciousParcel) -> str:
    """One item at the post office that holds it."""
    return f"suspicious_parcel:{report.post_office}:{report.item.id}"


REPORT_KINDS: tuple[KindSpec[Any], ...] = (
    KindSpec(
        ReportKind.LINE_FAULT,
        LineFault,
        "reports.line-fault",
        "line",
        "operator",
        EnterpriseKind.TELECOM,
        _line_fault_key,
        "alarmed_object.id",
    ),
    KindSpec(
        ReportKind.CAPACITY_ALARM,
        CapacityAlarm,
        "reports.capacity-alarm",
        "capacity",
        "operator",
        EnterpriseKind.TELECOM,
        _capacity_alarm_key,
        "alarmed_object.id",
    ),
    KindSpec(
        ReportKind.SUSPICIOUS_PARCEL,
        SuspiciousParcel,
        "reports.suspicious-parcel",
        "parcel",
        "post_office",
        EnterpriseKind.POSTAL,
        _suspicious_parcel_key,
        "item.id",
    ),
)
KIND: Mapping[str, KindSpec[Any]] = {spec.kind.value: spec for spec in REPORT_KINDS}
TOPIC_OF_KIND: Mapping[str, str] = {spec.kind.value: spec.topic for spec in REPORT_KINDS}


def incident_key(report: AnyReport) -> str:
    """The key an incident is grouped and partitioned by; it matches schemas' IncidentKey.

    - line fault: ``line_fault:{operator}:{alarmed_object.id}``
    - capacity alarm: ``capacity_alarm:{operator}:{alarmed_object.id}:{metric}``
    - suspicious parcel: ``suspicious_parcel:{post_office}:{item.id}``

    Fields are slugs and ids (``[A-Za-z0-9._:-]``), so the key needs no escaping; at most
    18 + 64 + 128 + 30 characters, within IncidentKey's 256.
    """
    for spec in REPORT_KINDS:
        if isinstance(report, spec.model):
            return spec.key(report)
    raise TypeError(f"not a report: {type(report).__name__}")


def owner(report: AnyReport) -> tuple[str, str]:
    """The field naming the enterprise the report is about, and that enterprise's id.

    Only that enterprise (or the Department) may publish the report: its own lines and
    resources, its own post office's items.
    """
    field = KIND[report.kind].owner
    return field, str(getattr(report, field))


def is_clear(report: AnyReport) -> bool:
    """Whether the report says its alarm is over (perceived severity `cleared`)."""
    return getattr(report, "perceived_severity", None) is PerceivedSeverity.CLEARED
