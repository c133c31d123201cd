"""Pure: the canonical text of a message's JSON (schemas.chain), parsed and written faster.

`schemas.chain.canonical_json` over pydantic's `from_json` is the definition that the hash
chain and `verify` use, and after contract validation it was the recorder's largest cost
per event. The same text is made here by jiter (the parser inside pydantic's `from_json`,
so the same values) and orjson (sorted keys, compact, UTF-8 as it is), except where orjson
would write a value differently from Python's json: a float (`1e-7`, not `1e-07`) or an
integer past 64 bits. jiter hands floats over as `LosslessFloat`, which orjson refuses, as
it refuses those integers: both go the definition's own way. Strings and their escapes, key
order (by code point, which is UTF-8 byte order), integers, booleans and null are written
alike by both; `tests/unit/recorder/test_recorder_canonical.py` checks it.
"""

from __future__ import annotations

import jiter
import orjson
from pydantic_core import from_json

from schemas.chain import canonical_json


def canonical_text(value: bytes) -> str:
    """`canonical_json(from_json(value))`, the same characters; raises ValueError as that
    does on bytes that are not JSON."""
    parsed = jiter.from_json(value, float_mode="lossless-float")
    try:
        return orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except orjson.JSONEncodeError:  # a float, or an integer orjson cannot hold
        return canonical_json(from_json(value))
