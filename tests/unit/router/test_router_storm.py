"""Incident keys per kind, and storm collapsing: nothing lost, clears kept apart."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.envelope import ReportRef
from schemas.kinds import incident_key, is_clear
from schemas.reports import AnyReport
from services.router.storm import collapse
from tests.support.router_samples import REGISTRY_ZONE, make, reports

pytestmark = pytest.mark.unit

INCIDENT_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,256}$")
T0 = datetime(2007, 5, 20, 6, 0, tzinfo=REGISTRY_ZONE)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("line_fault", "line_fault:vnpt-quang-nam:HOTLINE-BAUCU-03"),
        (
            "capacity_alarm",
            "capacity_alarm:viettel-quang-nam:VTL-NET-HOIAN-BSC1:call_blocking_percent",
        ),
        ("suspicious_parcel", "suspicious_parcel:buu-dien-dien-ban:EE123456789VN"),
    ],
)
def test_incident_key_per_kind(kind: str, key: str) -> None:
    assert incident_key(make(kind)) == key


def test_the_longest_ids_still_make_a_valid_key() -> None:
    report = make(
        "capacity_alarm",
        operator="a" * 64,
        metric="call_setup_failure_percent",
        **{"alarmed_object.id": "X" * 128},
    )
    assert INCIDENT_KEY.match(incident_key(report))


def fault(n: int, minutes: int, severity: str = "major", line: str = "VNPT-L-1") -> AnyReport:
    return make(
        "line_fault",
        T0 + timedelta(minutes=minutes),
        report_id=f"r{n}",
        perceived_severity=severity,
        **{"alarmed_object.id": line},
    )


def test_a_storm_on_one_line_collapses_into_one() -> None:
    batch = [fault(1, 5, "minor"), fault(2, 0, "critical"), fault(3, 9, "major"), fault(4, 2)]
    (storm,) = collapse(batch)
    assert storm.incident_key == "line_fault:vnpt-quang-nam:VNPT-L-1"
    assert storm.reports == tuple(batch)
    assert storm.representative is batch[1]
    assert (storm.count, storm.first_seen, storm.last_seen) == (4, T0, T0 + timedelta(minutes=9))
    assert storm.refs[0] == ReportRef(reported_by="vnpt-quang-nam", report_id="r1")
    assert not storm.cleared


def test_severity_ties_go_to_the_latest_then_to_the_later_in_the_batch() -> None:
    later, same_time = fault(1, 9), fault(2, 9)
    assert collapse([fault(0, 1), later])[0].representative is later
    assert collapse([later, same_time])[0].representative is same_time


def test_clears_stay_apart_and_groups_keep_the_order_of_first_appearance() -> None:
    batch = [
        fault(1, 0, line="VNPT-A"),
        fault(2, 1, "cleared", line="VNPT-A"),
        fault(3, 2, line="VNPT-B"),
        fault(4, 3, line="VNPT-A"),
        fault(5, 4, "cleared", line="VNPT-A"),
    ]
    groups = collapse(batch)
    assert [(g.incident_key[-6:], g.cleared, [r.report_id for r in g.reports]) for g in groups] == [
        ("VNPT-A", False, ["r1", "r4"]),
        ("VNPT-A", True, ["r2", "r5"]),
        ("VNPT-B", False, ["r3"]),
    ]


def test_a_publisher_retry_is_kept_for_the_incident_manager_to_deduplicate() -> None:
    report = fault(1, 0)
    (group,) = collapse([report, report])
    assert group.count == 2
    assert group.refs[0] == group.refs[1]


def test_an_empty_batch_collapses_to_nothing() -> None:
    assert collapse([]) == []


# A small pool of lines and items, so that keys collide often.
storm_reports = reports().map(
    lambda r: (
        r.model_copy(
            update={
                "alarmed_object": r.alarmed_object.model_copy(
                    update={"id": r.alarmed_object.id[:4]}
                )
            }
        )
        if hasattr(r, "alarmed_object")
        else r
    )
)


@settings(max_examples=150, deadline=None)
@given(st.lists(storm_reports, max_size=30).flatmap(lambda rs: st.permutations(rs + rs[:3])))
def test_collapsing_loses_nothing_and_never_mixes_clears(batch: list[AnyReport]) -> None:
    groups = collapse(batch)
    folded = [r for g in groups for r in g.reports]
    assert sorted(map(id, folded)) == sorted(map(id, batch))
    assert len({(g.incident_key, g.cleared) for g in groups}) == len(groups)
    for group in groups:
        assert {incident_key(r) for r in group.reports} == {group.incident_key}
        assert {is_clear(r) for r in group.reports} == {group.cleared}
        assert any(r is group.representative for r in group.reports)
        assert group.first_seen <= group.representative.occurred_at <= group.last_seen
    # Each group is exactly its reports of the batch, in batch order; groups by first report.
    signature = [(incident_key(r), is_clear(r)) for r in batch]
    for group in groups:
        mine = [
            r
            for r, sig in zip(batch, signature, strict=True)
            if sig == (group.incident_key, group.cleared)
        ]
        assert len(mine) == group.count and all(
            a is b for a, b in zip(group.reports, mine, strict=True)
        )
    firsts = [signature.index((g.incident_key, g.cleared)) for g in groups]
    assert firsts == sorted(firsts)
