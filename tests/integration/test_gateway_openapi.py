"""schemathesis against the gateway's OpenAPI document, on the real app and the real stack.

Every operation but the endless task stream (covered by the e2e test) gets generated
requests, valid and invalid, with a publisher's and with the Department's token; every
answer must be no server error, with a documented status and content type, matching its
documented schema.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = pytest.mark.integration
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 15


def fuzz(url: str, secret: str) -> list[str]:
    """Run every operation's generated cases; the operations run, for the assertion message."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(path="/v1/tasks/stream")
    headers = {"Authorization": f"Bearer {secret}"}
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=30)

            try:
                check()
            except Unsatisfiable:
                # An operation with no parameters and no body has no invalid input to make.
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            ran.append(f"{operation.label} ({mode.value})")
    return ran


@pytest.mark.parametrize(("enterprise", "role"), [("vnpt-quang-nam", "publisher"),
                                                  ("so-bcvt-quang-nam", "supervisor")])  # fmt: skip
async def test_every_operation_keeps_to_its_openapi_document(topics, database, tmp_path,
                                                             enterprise, role):  # fmt: skip
    gateway = await start_gateway(
        topics,
        tmp_path / "gateway.log",
        SIGNALPOST_GATEWAY_LOOKUP_WAIT_SECONDS="0",
        SIGNALPOST_GATEWAY_COMMAND_WAIT_SECONDS="0.2",
    )
    try:
        secret = await gateway.token(enterprise, role)
        ran = await asyncio.to_thread(fuzz, gateway.url, secret)
    finally:
        await stop_gateway(gateway)
    assert len(ran) >= 26, ran
