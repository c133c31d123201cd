"""The election-2007 generator: deterministic, valid, with its storm, congestion and parcels."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest

from schemas.codec import decode
from schemas.contracts import REPORT
from schemas.errors import ContractError
from schemas.example_reports import TOPIC_OF_KIND
from schemas.references import check_references
from schemas.registry import load_registry
from services.router import REFERENCE_RULES, load_rule_set
from services.router.engine import route
from services.simulator import election_2007
from services.simulator.election_2007 import ELECTION_NIGHT, END, START, scenario

pytestmark = pytest.mark.unit

REGISTRY = load_registry()
RULES = load_rule_set(REFERENCE_RULES, REGISTRY)
FULL = scenario(11, speed=3600, registry=REGISTRY)
MESSAGES = [item.message for item in FULL.schedule]
VALID = [(m, decode(REPORT, m.value)) for m in MESSAGES if m.valid]


def _wire(run) -> list[tuple[float, str, bytes | None, bytes]]:
    return [(i.offset, i.message.topic, i.message.key, i.message.value) for i in run.schedule]


def test_the_same_seed_gives_the_same_messages_byte_for_byte():
    again = scenario(11, speed=3600, registry=REGISTRY)
    assert _wire(again) == _wire(FULL)
    assert len(FULL.schedule) > 1000


def test_different_seeds_give_different_messages():
    other = scenario(12, speed=3600, registry=REGISTRY)
    # Report ids carry the seed, so not one valid report is the same.
    assert {i.message.value for i in other.schedule if i.message.valid}.isdisjoint(
        m.value for m in MESSAGES
    )
    assert Counter(i.message.sent_at for i in other.schedule) != Counter(
        m.sent_at for m in MESSAGES
    )


def test_report_ids_come_from_the_seed_and_are_unique_per_publisher():
    ids = [(r.reported_by, r.report_id) for _, r in VALID]
    assert len(set(ids)) == len(ids)
    assert all(r.report_id.startswith("sim11-") for _, r in VALID)


def test_every_valid_report_decodes_on_its_kinds_topic_and_names_known_ids():
    assert len(VALID) > 0.95 * len(MESSAGES)
    for message, report in VALID:
        assert message.topic == TOPIC_OF_KIND[report.kind]
        assert check_references(report, REGISTRY) == ()
        assert START <= report.occurred_at < END


def test_a_small_share_is_broken_and_every_broken_one_is_refused():
    broken = [m for m in MESSAGES if not m.valid]
    assert 0.005 < len(broken) / len(MESSAGES) < 0.05
    for message in broken:
        try:
            report = decode(REPORT, message.value)
        except ContractError:
            continue
        assert check_references(report, REGISTRY), message.value  # the router refuses it


def test_all_17_districts_have_background_faults_and_alarms():
    background = [r for m, r in VALID if m.part == "background"]
    assert {r.district for r in background} == {d.id for d in REGISTRY.districts}
    assert Counter(r.kind for r in background).keys() == {"line_fault", "capacity_alarm"}


def test_a_cable_cut_throws_a_storm_of_line_faults_in_one_district():
    storm = [r for m, r in VALID if m.part == "storm"]
    assert len({r.district for r in storm}) == 1
    assert {r.probable_cause for r in storm} == {"cable_cut"}
    first = min(r.occurred_at for r in storm)
    early = {r.alarmed_object.id for r in storm if r.occurred_at - first <= timedelta(minutes=2)}
    assert len(early) >= 50  # fifty lines down within two minutes
    cleared = {
        r.alarmed_object.id
        for m, r in VALID
        if m.part == "clear" and r.kind == "line_fault" and r.district == storm[0].district
    }
    assert {r.alarmed_object.id for r in storm} <= cleared  # and all come back after repair


def test_election_night_congestion_asks_peer_operators_to_share_capacity():
    congestion = [r for m, r in VALID if m.part == "congestion"]
    night = [r for r in congestion if r.occurred_at >= ELECTION_NIGHT]
    assert len(night) >= 30 and len(night) == len(congestion)
    decisions = [route(r, RULES, REGISTRY, RULES.calendar) for r in night]
    assert {d.rule_id for d in decisions} == {"capacity-election-night"}
    assert all(d.support and d.primary not in d.support for d in decisions)
    assert all("so-bcvt-quang-nam" in d.notified for d in decisions)


def test_suspicious_parcels_at_a_few_post_offices_one_a_threat():
    parcels = [r for _, r in VALID if r.kind == "suspicious_parcel"]
    assert 3 <= len({r.post_office for r in parcels}) <= 8
    decisions = [route(r, RULES, REGISTRY, RULES.calendar) for r in parcels]
    assert "parcel-threat" in {d.rule_id for d in decisions}
    assert all("cong-an-quang-nam" in d.notified for d in decisions)


def test_some_alarms_are_cleared_later_on_the_same_incident():
    raised: dict[tuple[str, str], datetime] = {}
    for m, r in VALID:
        if m.part != "clear" and r.kind != "suspicious_parcel":
            key = (r.operator, r.alarmed_object.id)
            raised[key] = min(raised.get(key, r.occurred_at), r.occurred_at)
    clears = [r for m, r in VALID if m.part == "clear"]
    assert len(clears) > 100
    assert all(r.perceived_severity == "cleared" for r in clears)
    assert all(raised[r.operator, r.alarmed_object.id] < r.occurred_at for r in clears)


def test_every_valid_report_gets_a_routing_decision_from_the_reference_rules():
    assert all(route(r, RULES, REGISTRY, RULES.calendar).primary for _, r in VALID[:400])


def test_time_is_compressed_by_the_speed_from_the_start():
    slow = scenario(11, speed=60, registry=REGISTRY)
    for fast_item, slow_item in zip(FULL.schedule, slow.schedule, strict=True):
        simulated = (fast_item.message.sent_at - START).total_seconds()
        assert fast_item.offset == pytest.approx(simulated / 3600)
        assert slow_item.offset == pytest.approx(simulated / 60)
    assert FULL.schedule[-1].offset < (END - START).total_seconds() / 3600


def test_a_duration_and_a_start_cut_the_window_without_changing_the_messages():
    start = datetime(2007, 5, 20, 18, 30, tzinfo=election_2007.LOCAL)
    window = scenario(11, speed=300, duration=30, start=start, registry=REGISTRY)
    assert window.schedule and all(0 <= i.offset <= 30 for i in window.schedule)
    sent = [i.message.sent_at for i in window.schedule]
    assert min(sent) >= start and max(sent) <= start + timedelta(seconds=300 * 30)
    assert {i.message.value for i in window.schedule} <= set(m.value for m in MESSAGES)
    assert window.simulated_at(10) == start + timedelta(seconds=3000)


def test_messages_go_out_in_sending_order():
    offsets = [i.offset for i in FULL.schedule]
    assert offsets == sorted(offsets)
    assert json.loads(MESSAGES[0].value)["report_id"] == "sim11-00001"


def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        scenario(11, speed=0, registry=REGISTRY)
