"""The topic catalog's promises, checked without a broker."""

from __future__ import annotations

import pytest

from services.runtime.topics import CATALOG, INCIDENT_COMMANDS, INCIDENT_EVENTS, ROUTED_REPORTS

pytestmark = pytest.mark.unit
BY_NAME = {spec.name: spec for spec in CATALOG}


def test_names_are_unique_and_described():
    assert len(BY_NAME) == len(CATALOG)
    assert all(spec.description for spec in CATALOG)


def test_the_event_log_is_kept_forever_and_never_compacted():
    config = BY_NAME[INCIDENT_EVENTS].config
    assert config["retention.ms"] == "-1"
    assert config["retention.bytes"] == "-1"
    assert config["cleanup.policy"] == "delete"


def test_incident_keyed_topics_are_co_partitioned():
    counts = {BY_NAME[name].partitions for name in (ROUTED_REPORTS, INCIDENT_COMMANDS)}
    assert counts == {BY_NAME[INCIDENT_EVENTS].partitions}
