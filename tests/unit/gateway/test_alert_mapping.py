"""Alertmanager alerts to reports: labels to fields, defaults, value maps, refusals naming the
report field, stable ids, resolved to clear, and mapping files refused with file and line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.registry import load_registry
from services.gateway.alert_mapping import Alert, UnmappedAlert, alert_report, alert_report_id
from services.gateway.alert_rules import REFERENCE_MAPPING, AlertMappingError, load_alert_rules
from services.gateway.alertmanager import admit_alert, first_unavailable, payload_of
from services.gateway.batch import ItemResult, Outcome, refused
from services.gateway.errors import ApiError, unavailable
from services.gateway.intake import Admitted

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
RULES = load_alert_rules(REFERENCE_MAPPING)
VNPT, VIETTEL = "vnpt-quang-nam", "viettel-quang-nam"
NOW = datetime(2007, 5, 20, 7, 0, 30, tzinfo=UTC)
LINE_DOWN = {
    "alertname": "LineDown",
    "operator": VNPT,
    "district": "tien-phuoc",
    "line": "VNPT-TPH-0042",
    "severity": "warning",
}

CALL_BLOCKING = {
    "alertname": "CallBlockingHigh",
    "operator": VNPT,
    "district": "tam-ky",
    "resource": "VNPT-SW-TK1",
}


def alert(labels: dict[str, str], status: str = "firing", **annotations: str) -> Alert:
    return Alert.model_validate(
        {
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": "2007-05-20T07:00:00.123456789Z",
            "endsAt": "2007-05-20T07:00:20Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": "1a30ba71cca2921f",
        }
    )


def admitted(labels: dict[str, str], *, enterprise: str = VNPT, **options: Any) -> Admitted:
    found = admit_alert(
        alert(labels, **options), rules=RULES, registry=REGISTRY, enterprise=enterprise, now=NOW
    )
    assert isinstance(found, Admitted), found
    return found


def refusal(labels: dict[str, str], *, enterprise: str = VNPT, **options: Any) -> ApiError:
    found = admit_alert(
        alert(labels, **options), rules=RULES, registry=REGISTRY, enterprise=enterprise, now=NOW
    )
    assert isinstance(found, ApiError), found
    return found


def test_labels_fill_the_fields_and_the_rest_take_their_defaults():
    report = admitted(LINE_DOWN, summary="Mất tín hiệu").report
    assert (report.kind, report.operator, report.district) == ("line_fault", VNPT, "tien-phuoc")
    assert report.alarmed_object.id == "VNPT-TPH-0042"
    assert report.alarmed_object.service_class == "subscriber"  # default after |
    assert report.probable_cause == "loss_of_signal"
    assert report.election_critical is False  # the default text "false", as the field's type
    assert report.description == "Mất tín hiệu"
    assert report.reported_by == VNPT  # the token's enterprise
    assert report.occurred_at == datetime(2007, 5, 20, 7, 0, 0, 123456, tzinfo=UTC)
    assert report.reported_at == NOW


def test_a_value_map_turns_the_label_into_the_reports_word():
    assert admitted(LINE_DOWN).report.perceived_severity == "minor"  # warning -> minor
    page = admitted({**LINE_DOWN, "severity": "page"}).report
    assert page.perceived_severity == "critical"


def test_a_capacity_alarm_takes_numbers_from_labels_and_annotations():
    labels = {"alertname": "LinkCongested", "operator": VNPT, "district": "tam-ky",
              "resource": "VNPT-NET-TK-LINK1", "threshold": "85"}  # fmt: skip
    report = admitted(labels, value="91.5").report
    assert (report.kind, report.metric) == ("capacity_alarm", "utilisation_percent")
    assert (report.threshold, report.observed_value) == (85.0, 91.5)
    assert report.alarmed_object.type == "transmission_link"


def test_the_first_matching_rule_wins():
    hotline = {**LINE_DOWN, "alertname": "ElectionHotlineDown", "line": "HOTLINE-BAUCU-03"}
    report = admitted(hotline).report
    assert report.alarmed_object.service_class == "election_hotline"
    assert (report.election_critical, report.perceived_severity) == (True, "critical")


def test_no_matching_rule_is_refused_naming_the_labels():
    error = refusal({"alertname": "DiskFull", "instance": "nms-1"})
    assert (error.status, error.code, error.problems[0].field) == (422, "unmapped_alert", "labels")
    assert "alertmanager.yaml" in error.problems[0].reason
    with pytest.raises(UnmappedAlert):
        alert_report(alert({"alertname": "DiskFull"}), RULES, now=NOW)


def test_a_missing_label_without_default_is_refused_naming_the_report_field():
    labels = {k: v for k, v in LINE_DOWN.items() if k != "line"}
    error = refusal(labels)
    assert (error.code, error.problems[0].field) == ("unmapped_alert", "alarmed_object.id")
    assert "'line'" in error.problems[0].reason
    empty = refusal({**LINE_DOWN, "line": ""})  # Prometheus drops an empty label: missing
    assert empty.problems[0].field == "alarmed_object.id"


@pytest.mark.parametrize(
    ("labels", "annotations", "field"),
    [
        ({**LINE_DOWN, "service_class": "fibre"}, {}, "alarmed_object.service_class"),
        ({**LINE_DOWN, "line": "VNPT 0042"}, {}, "alarmed_object.id"),
        ({**LINE_DOWN, "district": "atlantis"}, {}, "district"),
        ({**LINE_DOWN, "election_critical": "yes"}, {}, "election_critical"),
        (CALL_BLOCKING, {"value": "a lot"}, "observed_value"),
        (CALL_BLOCKING, {"value": "140"}, "observed_value"),  # a percentage over 100
    ],
)
def test_an_invalid_value_is_refused_by_the_report_model_naming_the_field(
    labels, annotations, field
):
    error = refusal(labels, **annotations)
    assert error.status == 422
    assert field in [p.field for p in error.problems], error.problems


def test_an_alert_about_another_operators_line_is_refused_as_impersonation():
    error = refusal({**LINE_DOWN, "operator": VIETTEL})
    assert (error.status, error.code, error.problems[0].field) == (403, "impersonation", "operator")


def test_the_report_id_is_stable_for_one_occurrence_and_a_resend_is_the_same_report():
    first = admitted(LINE_DOWN, summary="at 91%")
    later = admit_alert(
        alert(LINE_DOWN, summary="at 97%"),
        rules=RULES,
        registry=REGISTRY,
        enterprise=VNPT,
        now=datetime(2007, 5, 20, 7, 5, tzinfo=UTC),
    )
    assert isinstance(later, Admitted)
    assert first.report.report_id == later.report.report_id == "am-1a30ba71cca2921f-1179644400"
    assert first.digest == later.digest  # the store answers the resend as a duplicate
    assert first.value != later.value


def test_a_resolved_alert_is_the_clear_of_the_same_alarm_under_its_own_id():
    firing, resolved = admitted(LINE_DOWN), admitted(LINE_DOWN, status="resolved")
    assert resolved.report.perceived_severity == "cleared"
    assert resolved.incident_key == firing.incident_key
    assert resolved.report.report_id == firing.report.report_id + "-resolved"
    assert resolved.report.occurred_at == datetime(2007, 5, 20, 7, 0, 20, tzinfo=UTC)  # endsAt
    assert alert_report_id(alert(LINE_DOWN, status="resolved")) == resolved.report.report_id


PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "signalpost",
    "alerts": [
        {
            "status": "firing",
            "labels": LINE_DOWN,
            "annotations": {},
            "startsAt": "2007-05-20T07:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": "1a30ba71cca2921f",
        }
    ],
    "groupLabels": {},
    "commonLabels": {},
    "externalURL": "http://alertmanager",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
}


def test_a_payload_is_read_and_what_is_not_one_is_refused_naming_the_field():
    assert payload_of(json.dumps(PAYLOAD).encode()).alerts[0].labels == LINE_DOWN
    with pytest.raises(ApiError) as other_version:
        payload_of(json.dumps({**PAYLOAD, "version": "3"}).encode())
    assert (other_version.value.status, other_version.value.problems[0].field) == (422, "version")
    no_start = {k: v for k, v in PAYLOAD["alerts"][0].items() if k != "startsAt"}
    with pytest.raises(ApiError) as missing:
        payload_of(json.dumps({**PAYLOAD, "alerts": [no_start]}).encode())
    assert missing.value.problems[0].field == "alerts[0].startsAt"
    with pytest.raises(ApiError) as not_json:
        payload_of(b"{")
    assert not_json.value.status == 400
    with pytest.raises(ApiError) as an_array:
        payload_of(b"[]")
    assert an_array.value.status == 422


def test_an_alert_kafka_did_not_take_makes_the_whole_notification_a_503_to_be_retried():
    taken = ItemResult(Outcome.ACCEPTED, admitted=admitted(LINE_DOWN))
    unmapped = refusal({"alertname": "DiskFull"})
    outage = unavailable("kafka", "Kafka did not take the message within 5 s")
    assert first_unavailable([taken, refused(unmapped)]) is None  # a 422 is no reason to retry
    assert first_unavailable([taken, refused(unmapped), refused(outage)]) is outage


# --- the mapping file ------------------------------------------------------------------------


def problems_of(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    file = tmp_path / "mapping.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(AlertMappingError) as error:
        load_alert_rules(file)
    assert all(p.file == file for p in error.value.problems)
    return [(p.line, p.key, p.reason) for p in error.value.problems]


GOOD_RULE = """\
rules:
  - match: {alertname: LineDown}
    kind: line_fault
    fields:
      operator: "{labels.operator}"
      district: "{labels.district}"
      alarmed_object.id: "{labels.line}"
      alarmed_object.service_class: subscriber
      election_critical: false
      perceived_severity: major
      probable_cause: unknown
"""


def test_the_reference_mapping_and_a_minimal_one_load(tmp_path):
    assert [r.kind for r in RULES.rules] == [
        "line_fault", "line_fault", "capacity_alarm", "capacity_alarm"
    ]  # fmt: skip
    file = tmp_path / "mapping.yaml"
    file.write_text(GOOD_RULE, encoding="utf-8")
    (rule,) = load_alert_rules(file).rules
    assert rule.matches({"alertname": "LineDown"}) and not rule.matches({"alertname": "Other"})


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        (
            GOOD_RULE.replace("kind: line_fault", "kind: suspicious_parcel"),
            3,
            "rules[0].kind",
            "line_fault",
        ),
        (
            GOOD_RULE.replace("probable_cause: unknown", "probable_cuase: unknown"),
            11,
            "rules[0].fields.probable_cuase",
            "no field 'probable_cuase'",
        ),
        (
            GOOD_RULE.replace("      probable_cause: unknown\n", ""),
            4,
            "rules[0].fields",
            "needs the field 'probable_cause'",
        ),
        (
            GOOD_RULE.replace('"{labels.line}"', '"{label.line}"'),
            7,
            "rules[0].fields.alarmed_object.id",
            "braces hold only",
        ),
        (
            GOOD_RULE.replace("match: {alertname: LineDown}", "match_re: {alertname: '(Line'}"),
            2,
            "rules[0].match_re.alertname",
            "not a regular expression",
        ),
        (
            GOOD_RULE + "    values: {severity: {warning: minor}}\n",
            12,
            "rules[0].values.severity",
            "do not fill",
        ),
        (GOOD_RULE + "    kind: capacity_alarm\n", 3, "rules[0].kind", "repeated"),
        (GOOD_RULE.replace("rules:", "rules: ["), 2, "", "YAML syntax"),
    ],
)
def test_a_bad_mapping_file_is_refused_with_its_line(tmp_path, text, line, key, reason):
    found = problems_of(tmp_path, text)
    assert any((at, where) == (line, key) and reason in why for at, where, why in found), found


def test_a_firing_alert_labelled_cleared_is_refused_not_taken_for_a_clear():
    error = refusal(LINE_DOWN | {"severity": "cleared"})
    assert (error.code, error.problems[0].field) == ("unmapped_alert", "perceived_severity")
    assert "resolved" in error.problems[0].reason
