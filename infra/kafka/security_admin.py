"""SCRAM users and ACLs on the brokers: the admin requests aiokafka 0.14 does not offer.

AlterUserScramCredentials / DescribeUserScramCredentials (API keys 51/50) and CreateAcls /
DescribeAcls / DeleteAcls v1 (30/29/31) go as raw requests over the admin client's own
connection, so they are authorised as its user. The salted password is computed here (RFC
5802 Hi()): the password itself never crosses the wire.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)

SCRAM_SHA_512 = 2  # ScramMechanism's type byte
SCRAM_ITERATIONS = 8192  # the broker refuses fewer than 4096 for SHA-512

# The enums of org.apache.kafka.common.resource and .acl, by the names the table uses.
RESOURCE = {"any": 1, "topic": 2, "group": 3, "cluster": 4, "transactional_id": 5}
PATTERN = {"any": 1, "literal": 3, "prefixed": 4}
OPERATION = {
    "any": 1, "all": 2, "read": 3, "write": 4, "create": 5, "delete": 6, "alter": 7,
    "describe": 8, "cluster_action": 9, "describe_configs": 10, "alter_configs": 11,
    "idempotent_write": 12,
}  # fmt: skip
PERMISSION = {"any": 1, "deny": 2, "allow": 3}


@dataclass(frozen=True, order=True)
class Acl:
    """One ACL binding: `principal` may `operation` the resource (always from any host)."""

    principal: str  # "User:<name>"
    resource: str  # topic, group, cluster
    name: str
    pattern: str  # literal or prefixed
    operation: str
    permission: str = "allow"

    def wire(self) -> tuple[int, str, int, str, str, int, int]:
        """The binding as CreateAcls v1 sends it."""
        return (
            RESOURCE[self.resource],
            self.name,
            PATTERN[self.pattern],
            self.principal,
            "*",
            OPERATION[self.operation],
            PERMISSION[self.permission],
        )


def principal(user: str) -> str:
    """The principal a SCRAM user authenticates as."""
    return f"User:{user}"


class _AlterScramResponse(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(
            ("user", CompactString("utf-8")),
            ("error_code", Int16),
            ("error_message", CompactString("utf-8")),
            ("tags", TaggedFields),
        )),
        ("tags", TaggedFields),
    )  # fmt: skip


class _AlterScramRequest(RequestStruct):
    API_KEY = 51
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = _AlterScramResponse
    SCHEMA = Schema(
        ("deletions", CompactArray(
            ("name", CompactString("utf-8")),
            ("mechanism", Int8),
            ("tags", TaggedFields),
        )),
        ("upsertions", CompactArray(
            ("name", CompactString("utf-8")),
            ("mechanism", Int8),
            ("iterations", Int32),
            ("salt", CompactBytes),
            ("salted_password", CompactBytes),
            ("tags", TaggedFields),
        )),
        ("tags", TaggedFields),
    )  # fmt: skip


class _AlterScram(Request[_AlterScramRequest]):
    API_KEY = 51

    def __init__(self, upsert: dict[str, str], delete: list[str]) -> None:
        self._upsert, self._delete = upsert, delete

    def build(self, request_struct_class: type[_AlterScramRequest]) -> _AlterScramRequest:
        upsertions = []
        for name, password in self._upsert.items():
            salt = os.urandom(32)
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
            upsertions.append((name, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {}))
        deletions = [(name, SCRAM_SHA_512, {}) for name in self._delete]
        return request_struct_class(deletions, upsertions, {})


class _DescribeScramResponse(Response):
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        ("results", CompactArray(
            ("user", CompactString("utf-8")),
            ("error_code", Int16),
            ("error_message", CompactString("utf-8")),
            ("credential_infos", CompactArray(
                ("mechanism", Int8),
                ("iterations", Int32),
                ("tags", TaggedFields),
            )),
            ("tags", TaggedFields),
        )),
        ("tags", TaggedFields),
    )  # fmt: skip


class _DescribeScramRequest(RequestStruct):
    API_KEY = 50
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = _DescribeScramResponse
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _DescribeScram(Request[_DescribeScramRequest]):
    API_KEY = 50

    def build(self, request_struct_class: type[_DescribeScramRequest]) -> _DescribeScramRequest:
        return request_struct_class(None, {})  # None: every user


_ACL_FIELDS = (
    ("resource_type", Int8),
    ("resource_name", String("utf-8")),
    ("resource_pattern_type", Int8),
    ("principal", String("utf-8")),
    ("host", String("utf-8")),
    ("operation", Int8),
    ("permission_type", Int8),
)


class _CreateAclsResponse(Response):
    API_KEY = 30
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("error_message", String("utf-8")))),
    )


class _CreateAclsRequest(RequestStruct):
    API_KEY = 30
    API_VERSION = 1
    RESPONSE_TYPE = _CreateAclsResponse
    SCHEMA = Schema(("creations", Array(*_ACL_FIELDS)))


class _CreateAcls(Request[_CreateAclsRequest]):
    """Several bindings in one request (aiokafka's own CreateAclsRequest sends one)."""

    API_KEY = 30

    def __init__(self, acls: list[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[_CreateAclsRequest]) -> _CreateAclsRequest:
        return request_struct_class([acl.wire() for acl in self._acls])


class _DescribeAclsResponse(Response):
    API_KEY = 29
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", String("utf-8")),
        ("resources", Array(
            ("resource_type", Int8),
            ("resource_name", String("utf-8")),
            ("resource_pattern_type", Int8),
            ("acls", Array(
                ("principal", String("utf-8")),
                ("host", String("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
            )),
        )),
    )  # fmt: skip


class _DescribeAclsRequest(RequestStruct):
    API_KEY = 29
    API_VERSION = 1
    RESPONSE_TYPE = _DescribeAclsResponse
    SCHEMA = Schema(*_ACL_FIELDS)


class _DeleteAclsResponse(Response):
    API_KEY = 31
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("filter_results", Array(
            ("error_code", Int16),
            ("error_message", String("utf-8")),
            ("matching_acls", Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                *_ACL_FIELDS,
            )),
        )),
    )  # fmt: skip


class _DeleteAclsRequest(RequestStruct):
    API_KEY = 31
    API_VERSION = 1
    RESPONSE_TYPE = _DeleteAclsResponse
    SCHEMA = Schema(("filters", Array(*_ACL_FIELDS)))


def _filter(principal_name: str | None) -> tuple[int, None, int, str | None, None, int, int]:
    """An ACL filter matching every binding of one principal (None: of everyone)."""
    return (
        RESOURCE["any"],
        None,
        PATTERN["any"],
        principal_name,
        None,
        OPERATION["any"],
        PERMISSION["any"],
    )


class _DescribeAcls(Request[_DescribeAclsRequest]):
    API_KEY = 29

    def __init__(self, principal_name: str | None) -> None:
        self._principal = principal_name

    def build(self, request_struct_class: type[_DescribeAclsRequest]) -> _DescribeAclsRequest:
        return request_struct_class(*_filter(self._principal))


class _DeleteAcls(Request[_DeleteAclsRequest]):
    API_KEY = 31

    def __init__(self, principal_name: str) -> None:
        self._principal = principal_name

    def build(self, request_struct_class: type[_DeleteAclsRequest]) -> _DeleteAclsRequest:
        return request_struct_class([_filter(self._principal)])


def _raise(code: int, message: str | None, what: str) -> None:
    if code:
        raise for_code(code)(f"{what}: {message}")


async def upsert_scram_users(admin: AIOKafkaAdminClient, passwords: dict[str, str]) -> None:
    """Create SCRAM-SHA-512 users, or change their passwords."""
    response = await admin._send_to_controller(_AlterScram(passwords, []))
    for result in response.to_object()["results"]:
        _raise(result["error_code"], result["error_message"], result["user"])


async def delete_scram_users(admin: AIOKafkaAdminClient, users: list[str]) -> None:
    """Remove users' SCRAM credentials: they can no longer log in."""
    response = await admin._send_to_controller(_AlterScram({}, users))
    for result in response.to_object()["results"]:
        _raise(result["error_code"], result["error_message"], result["user"])


async def scram_users(admin: AIOKafkaAdminClient) -> list[str]:
    """Every user with a SCRAM credential, sorted."""
    response = (await admin._send_request(_DescribeScram())).to_object()
    _raise(response["error_code"], response["error_message"], "describing SCRAM users")
    return sorted(r["user"] for r in response["results"] if not r["error_code"])


async def create_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Add ACL bindings (adding one that exists is no change)."""
    if not acls:
        return
    response = (await admin._send_to_controller(_CreateAcls(acls))).to_object()
    for acl, result in zip(acls, response["results"], strict=True):
        _raise(result["error_code"], result["error_message"], str(acl))


async def acls_of(admin: AIOKafkaAdminClient, principal_name: str | None = None) -> list[Acl]:
    """The ACL bindings of one principal (None: of everyone), sorted."""
    response = (await admin._send_request(_DescribeAcls(principal_name))).to_object()
    _raise(response["error_code"], response["error_message"], "describing ACLs")
    return sorted(
        Acl(
            a["principal"],
            _name_of(RESOURCE, r["resource_type"]),
            r["resource_name"],
            _name_of(PATTERN, r["resource_pattern_type"]),
            _name_of(OPERATION, a["operation"]),
            _name_of(PERMISSION, a["permission_type"]),
        )
        for r in response["resources"]
        for a in r["acls"]
    )


async def delete_acls(admin: AIOKafkaAdminClient, principal_name: str) -> int:
    """Remove every ACL binding of one principal; how many there were."""
    response = (await admin._send_to_controller(_DeleteAcls(principal_name))).to_object()
    (result,) = response["filter_results"]
    _raise(result["error_code"], result["error_message"], f"deleting ACLs of {principal_name}")
    return len(result["matching_acls"])


def _name_of(table: dict[str, int], code: int) -> str:
    return next((name for name, value in table.items() if value == code), str(code))


__all__ = [
    "Acl",
    "acls_of",
    "create_acls",
    "delete_acls",
    "delete_scram_users",
    "principal",
    "scram_users",
    "upsert_scram_users",
]
