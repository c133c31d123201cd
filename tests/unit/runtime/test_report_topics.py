"""Report topic names: the gateway's per kind, each enterprise's own, and what a name says."""

from __future__ import annotations

import pytest

from services.runtime.topics import (
    ReportSource,
    enterprise_report_topic,
    enterprise_report_topics,
    report_source,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("topic", "prefix", "source"),
    [
        ("reports.line-fault", "", ReportSource("line_fault", None)),
        ("t1.reports.capacity-alarm", "t1.", ReportSource("capacity_alarm", None)),
        ("reports.vnpt-quang-nam.line-fault", "", ReportSource("line_fault", "vnpt-quang-nam")),
        ("t1.reports.a.suspicious-parcel", "t1.", ReportSource("suspicious_parcel", "a")),
    ],
)
def test_a_report_topic_names_its_kind_and_its_only_writer(topic, prefix, source):
    assert report_source(topic, prefix) == source


@pytest.mark.parametrize(
    ("topic", "prefix"),
    [
        ("reports.routed", ""),
        ("reports.dead-letter", ""),
        ("reports.a.b.line-fault", ""),  # an enterprise id has no dot
        ("reports.Vnpt.line-fault", ""),  # nor capitals
        ("reports.vnpt.line-faults", ""),
        ("t2.reports.line-fault", "t1."),  # another prefix's
        ("reports.line-fault", "t1."),  # unprefixed, when a prefix is in force
    ],
)
def test_other_topics_are_no_report_topics(topic, prefix):
    assert report_source(topic, prefix) is None


def test_an_enterprise_has_one_topic_per_kind_stamped_on_arrival():
    topics = enterprise_report_topics("vnpt-quang-nam")
    assert [t.name for t in topics] == [
        enterprise_report_topic("vnpt-quang-nam", k)
        for k in ("line_fault", "capacity_alarm", "suspicious_parcel")
    ]
    assert all(t.config["message.timestamp.type"] == "LogAppendTime" for t in topics)
    assert all(report_source(t.name) == ReportSource(k, "vnpt-quang-nam") for t, k in zip(
        topics, ("line_fault", "capacity_alarm", "suspicious_parcel"), strict=True
    ))  # fmt: skip
