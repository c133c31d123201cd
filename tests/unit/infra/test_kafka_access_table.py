"""The access table's shape: narrow grants only, each enterprise's about itself alone.

Whether the brokers enforce it is tests/integration/test_kafka_access_matrix.py's to show.
"""

from __future__ import annotations

import pytest

from infra.kafka.access import (
    SERVICES,
    Groups,
    enterprise_acls,
    enterprise_user,
    service_acls,
    service_user,
)

pytestmark = pytest.mark.unit
GROUPS = Groups(
    router="p.router", recorder="p.recorder", incidents="p.incidents", notifier="p.notifier"
)
NARROW = {"read", "write", "describe", "create"}


@pytest.mark.parametrize("prefix", ["", "t1."])
def test_an_enterprise_is_granted_only_names_of_its_own_under_the_prefix(prefix):
    acls = enterprise_acls("vnpt-quang-nam", prefix)
    assert {a.principal for a in acls} == {f"User:{enterprise_user('vnpt-quang-nam', prefix)}"}
    for acl in acls:
        assert acl.name.startswith(prefix) and "vnpt-quang-nam" in acl.name, acl
        assert acl.permission == "allow" and acl.operation in {"read", "write", "describe"}
        assert acl.pattern == "literal" or acl.resource == "group", acl
    writes = {a.name for a in acls if a.operation == "write"}
    assert writes == {
        f"{prefix}reports.vnpt-quang-nam.{k}"
        for k in ("line-fault", "capacity-alarm", "suspicious-parcel")
    }


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_may_delete_alter_or_touch_the_cluster(service):
    for acl in service_acls(service, GROUPS, "t1."):
        assert acl.principal == f"User:{service_user(service, 't1.')}"
        assert acl.operation in NARROW and acl.resource in {"topic", "group"}, acl
        assert acl.name.startswith("t1.") or acl.name.startswith("p."), acl


def test_only_the_incident_manager_may_create_topics_and_only_its_own():
    creating = [a for s in SERVICES for a in service_acls(s, GROUPS) if a.operation == "create"]
    assert creating and all(a.name == "p.incidents-" for a in creating)


def test_an_unknown_service_has_no_user():
    with pytest.raises(ValueError, match="unknown service"):
        service_user("mailer")
