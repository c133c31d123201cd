"""Incident keys: which reports are about the same incident, one documented key per kind."""

from __future__ import annotations

from schemas.reports import AnyReport, CapacityAlarm, LineFault, SuspiciousParcel

__all__ = ["incident_key"]


def incident_key(report: AnyReport) -> str:
    """The key an incident is grouped and partitioned by; it matches schemas' IncidentKey.

    - line fault: ``line_fault:{operator}:{alarmed_object.id}`` — one line of one operator;
      the same line id at two operators is two incidents.
    - capacity alarm: ``capacity_alarm:{operator}:{alarmed_object.id}:{metric}`` — one
      resource and one measure; blocking and utilisation on one switch are handled apart.
    - suspicious parcel: ``suspicious_parcel:{post_office}:{item.id}`` — one item at the
      post office that holds it.

    Fields are slugs and ids (``[A-Za-z0-9._:-]``), so the key needs no escaping; at most
    18 + 64 + 128 + 30 characters, within IncidentKey's 256.
    """
    if isinstance(report, LineFault):
        return f"line_fault:{report.operator}:{report.alarmed_object.id}"
    if isinstance(report, CapacityAlarm):
        return f"capacity_alarm:{report.operator}:{report.alarmed_object.id}:{report.metric}"
    if isinstance(report, SuspiciousParcel):
        return f"suspicious_parcel:{report.post_office}:{report.item.id}"
    raise TypeError(f"not a report: {type(report).__name__}")
