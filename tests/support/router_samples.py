"""Reports and rule files for the router's unit tests, built from the valid examples."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from pydantic import TypeAdapter

from schemas.example_reports import EXAMPLES
from schemas.registry import EnterpriseKind, Registry, load_registry
from schemas.reports import (
    AnyReport,
    CustodyStatus,
    Indicator,
    ItemType,
    PerceivedSeverity,
    Report,
    ServiceClass,
)

BASE = {
    "line_fault": "report.line-fault-election-hotline",
    "capacity_alarm": "report.capacity-alarm-call-blocking",
    "suspicious_parcel": "report.suspicious-parcel-no-sender",
}
REGISTRY: Registry = load_registry()
REGISTRY_ZONE = ZoneInfo(REGISTRY.timezone)
_REPORT = TypeAdapter(Report)

# One instant in each period of the reference calendar, and one in none.
WHEN: dict[str, datetime] = {
    "inspection": datetime(2007, 5, 10, 10, 0, tzinfo=REGISTRY_ZONE),
    "election_days": datetime(2007, 5, 19, 10, 0, tzinfo=REGISTRY_ZONE),
    "election_night": datetime(2007, 5, 20, 21, 0, tzinfo=REGISTRY_ZONE),
    "none": datetime(2007, 5, 25, 10, 0, tzinfo=REGISTRY_ZONE),
}


def make(kind: str, at: datetime | None = None, **changes: Any) -> AnyReport:
    """A valid report of `kind`; `at` sets occurred_at (reported a minute later); dotted keys."""
    raw = json.loads((EXAMPLES / f"{BASE[kind]}.json").read_text(encoding="utf-8"))
    if at is not None:
        raw["occurred_at"], raw["reported_at"] = at, at + timedelta(minutes=1)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        target = raw
        for name in parents:
            target = target[name]
        target[leaf] = value
    # JSON, as on the wire: reports take times only as ISO 8601 text.
    return _REPORT.validate_json(json.dumps(raw, default=datetime.isoformat))


DISTRICTS = tuple(d.id for d in REGISTRY.districts)
OPERATORS = tuple(e.id for e in REGISTRY.of_kind(EnterpriseKind.TELECOM))
POST_OFFICES = tuple(e.id for e in REGISTRY.of_kind(EnterpriseKind.POSTAL))
# Lines and resources: owned ones of each operator, and one nobody claims.
ASSETS = ("HOTLINE-BAUCU-03", "VNPT-TK-0001", "VTL-HA-7", "EVNT-1", "SFN-9", "NOBODY-1")
NET = ("VNPT-NET-1", "VTL-NET-HOIAN-BSC1", "EVNT-NET-2", "SFN-NET-3", "NOBODY-NET")

may_2007 = st.datetimes(datetime(2007, 5, 1), datetime(2007, 5, 31, 23, 59)).map(
    lambda t: t.replace(tzinfo=REGISTRY_ZONE)
)


@st.composite
def reports(draw: st.DrawFn) -> AnyReport:
    """A valid report that passes check_references, with the fields rules test varied."""
    kind = draw(st.sampled_from(sorted(BASE)))
    at = draw(may_2007)
    district = draw(st.sampled_from(DISTRICTS))
    if kind == "suspicious_parcel":
        office = draw(st.sampled_from(POST_OFFICES))
        return make(
            kind,
            at,
            district=district,
            post_office=office,
            reported_by=office,
            indicators=draw(st.sets(st.sampled_from(list(Indicator)), min_size=1).map(list)),
            custody_status=draw(st.sampled_from(list(CustodyStatus))),
            election_related=draw(st.booleans()),
            **{"item.type": draw(st.sampled_from(list(ItemType)))},
        )
    operator = draw(st.sampled_from(OPERATORS))
    common = {
        "district": district,
        "operator": operator,
        "reported_by": operator,
        "perceived_severity": draw(st.sampled_from(list(PerceivedSeverity))),
    }
    if kind == "capacity_alarm":
        return make(kind, at, **common, **{"alarmed_object.id": draw(st.sampled_from(NET))})
    return make(
        kind,
        at,
        **common,
        election_critical=draw(st.booleans()),
        **{
            "alarmed_object.id": draw(st.sampled_from(ASSETS)),
            "alarmed_object.service_class": draw(st.sampled_from(list(ServiceClass))),
        },
    )
