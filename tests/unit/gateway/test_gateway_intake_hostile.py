"""Bodies the fuzz tier found a 500 for: each is now a 4xx naming the reason."""

from __future__ import annotations

import pytest

from schemas.registry import load_registry
from services.gateway.errors import ApiError
from services.gateway.intake import admit_body

pytestmark = pytest.mark.unit
REGISTRY = load_registry()


@pytest.mark.parametrize(
    "body",
    [b'{"report_id": "\\ud800"}', b'{"description": "a\\udfffb"}', b'{"\\ud83d": 1}'],
    ids=["lone high surrogate", "lone low surrogate", "in a key"],
)
def test_a_lone_surrogate_escape_is_a_400_not_a_crash(body: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        admit_body(body, kind="line_fault", enterprise="vnpt-quang-nam", registry=REGISTRY)
    assert raised.value.status == 400
    assert "surrogate" in str(raised.value.body())


def test_a_whole_surrogate_pair_is_a_character_and_passes() -> None:
    body = b'{"description": "C\\u00e1p \\ud83d\\ude42", "report_id": "pair-1"}'
    with pytest.raises(ApiError) as raised:  # still incomplete, but not for the escape
        admit_body(body, kind="line_fault", enterprise="vnpt-quang-nam", registry=REGISTRY)
    assert raised.value.status == 422 and "surrogate" not in str(raised.value.body())
