"""Publishers report on what they own: another enterprise's name or network is a 403."""

from __future__ import annotations

import json

import pytest

from schemas.example_reports import report
from schemas.kinds import KIND
from schemas.registry import EnterpriseKind, load_registry
from services.gateway.errors import ApiError
from services.gateway.intake import admit_body

pytestmark = pytest.mark.unit
REGISTRY = load_registry()
VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
DIEN_BAN, HOI_AN = "buu-dien-dien-ban", "buu-dien-hoi-an"
# Each kind's example, and the enterprise that owns what it is about.
OWNERS = {"line_fault": VNPT, "capacity_alarm": VIETTEL, "suspicious_parcel": DIEN_BAN}


def admit(payload: dict, enterprise: str):
    raw = json.dumps(payload).encode()
    return admit_body(raw, kind=payload["kind"], enterprise=enterprise, registry=REGISTRY)


def refusal(payload: dict, enterprise: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        admit(payload, enterprise)
    return caught.value


def test_the_examples_are_their_owners_own():
    for kind, enterprise in OWNERS.items():
        example = report(kind, "r")
        assert example["reported_by"] == example[KIND[kind].owner] == enterprise
    assert REGISTRY.enterprise(DEPARTMENT).kind is EnterpriseKind.SUPERVISOR


@pytest.mark.parametrize("kind", OWNERS)
def test_the_owner_publishing_its_own_report_is_accepted(kind):
    admitted = admit(report(kind, "own"), OWNERS[kind])
    assert admitted.report.reported_by == OWNERS[kind]


@pytest.mark.parametrize(
    ("kind", "field", "other"),
    [
        ("line_fault", "reported_by", VIETTEL),
        ("line_fault", "operator", VIETTEL),
        ("capacity_alarm", "reported_by", VNPT),
        ("capacity_alarm", "operator", VNPT),
        ("suspicious_parcel", "reported_by", HOI_AN),
        ("suspicious_parcel", "post_office", HOI_AN),
    ],
)
def test_another_enterprise_in_a_field_is_a_403_naming_it(kind, field, other):
    error = refusal(report(kind, "r", **{field: other}), OWNERS[kind])
    assert (error.status, error.code) == (403, "impersonation")
    (problem,) = error.problems
    assert problem.field == field
    assert other in problem.reason and OWNERS[kind] in problem.reason
    assert set(error.body().model_dump()) == {"error", "problems"}


def test_a_token_cannot_clear_another_operators_line_by_leaving_reported_by_out():
    cleared = report("line_fault", "clear", perceived_severity="cleared")
    del cleared["reported_by"]
    error = refusal(cleared, VIETTEL)
    assert (error.status, error.code, error.problems[0].field) == (403, "impersonation", "operator")


def test_an_unknown_name_in_reported_by_is_an_impersonation_too():
    error = refusal(report("line_fault", "r", reported_by="vnpt"), VNPT)
    assert (error.status, error.problems[0].field) == (403, "reported_by")


@pytest.mark.parametrize("kind", OWNERS)
def test_the_department_may_report_on_any_network_in_its_own_name(kind):
    admitted = admit(report(kind, "dept", reported_by=DEPARTMENT), DEPARTMENT)
    assert admitted.report.reported_by == DEPARTMENT
    field = KIND[kind].owner
    assert getattr(admitted.report, field) == OWNERS[kind]


def test_the_department_may_leave_reported_by_out():
    payload = report("line_fault", "dept")
    del payload["reported_by"]
    assert admit(payload, DEPARTMENT).report.reported_by == DEPARTMENT


def test_the_department_may_not_claim_another_enterprises_name():
    error = refusal(report("line_fault", "r"), DEPARTMENT)
    assert (error.status, error.code, error.problems[0].field) == (
        403, "impersonation", "reported_by",
    )  # fmt: skip


def test_the_department_still_meets_the_reference_checks():
    error = refusal(report("line_fault", "r", reported_by=DEPARTMENT, operator="vnpt"), DEPARTMENT)
    assert (error.status, error.code, error.problems[0].field) == (
        422, "unknown_reference", "operator",
    )  # fmt: skip


def test_a_parent_post_office_is_not_its_branches():
    parcel = report("suspicious_parcel", "r", reported_by="buu-dien-quang-nam")
    error = refusal(parcel, "buu-dien-quang-nam")
    assert (error.status, error.problems[0].field) == (403, "post_office")
