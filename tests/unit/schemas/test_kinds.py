"""The table of report kinds covers the contract: every kind once, with its own model."""

from __future__ import annotations

from typing import get_args

import pytest

from schemas.codec import decode
from schemas.contracts import CATALOG as CATALOG_OF_CONTRACTS
from schemas.contracts import CONTRACT_OF_KIND, REPORT
from schemas.example_reports import encoded, report
from schemas.kinds import KIND, REPORT_KINDS, owner
from schemas.reports import AnyReport, ReportKind
from services.runtime.topics import CATALOG, TOPIC_OF_KIND

pytestmark = pytest.mark.unit


def test_every_kind_of_the_contract_has_one_row() -> None:
    assert [spec.kind for spec in REPORT_KINDS] == list(ReportKind)
    assert {spec.model for spec in REPORT_KINDS} == set(get_args(AnyReport))
    assert len(KIND) == len(REPORT_KINDS)


@pytest.mark.parametrize("spec", REPORT_KINDS, ids=lambda s: s.kind.value)
def test_a_row_s_model_carries_its_kind(spec) -> None:
    assert get_args(spec.model.model_fields["kind"].annotation) == (spec.kind.value,)


def test_labels_are_distinct() -> None:
    labels = [spec.label for spec in REPORT_KINDS]
    assert all(labels) and len(set(labels)) == len(labels)


def test_every_kind_has_a_topic_of_its_own_in_the_catalog() -> None:
    names = {spec.name for spec in CATALOG}
    assert set(TOPIC_OF_KIND) == {spec.kind for spec in REPORT_KINDS}
    assert len(set(TOPIC_OF_KIND.values())) == len(REPORT_KINDS)
    assert set(TOPIC_OF_KIND.values()) <= names


def test_every_kind_has_a_contract_of_its_own_in_the_contract_catalog() -> None:
    assert list(CONTRACT_OF_KIND) == [spec.kind.value for spec in REPORT_KINDS]
    for spec in REPORT_KINDS:
        contract = CONTRACT_OF_KIND[spec.kind.value]
        assert contract.error_code == "invalid_report"
        assert contract in CATALOG_OF_CONTRACTS


@pytest.mark.parametrize("spec", REPORT_KINDS, ids=lambda s: s.kind.value)
def test_a_row_s_owner_is_a_field_of_its_model_naming_an_enterprise(spec) -> None:
    field = spec.model.model_fields[spec.owner]
    assert "Registry id" in (field.description or "")
    payload = report(spec.kind.value, "r")
    assert owner(decode(REPORT, encoded(payload))) == (spec.owner, payload[spec.owner])
