"""The one codec: JSON UTF-8 bytes to validated contracts and back, upcasting old versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.contracts import Contract
from schemas.errors import ContractError, Problem

__all__ = [
    "CODEC",
    "MAX_MESSAGE_BYTES",
    "UPCASTERS",
    "Codec",
    "Upcaster",
    "Upcasters",
    "decode",
    "encode",
    "upcaster",
]

# Far above any honest report (a few KiB); the bound keeps one hostile message from costing a
# consumer its memory or its batch, and matches what the broker and the gateway accept.
MAX_MESSAGE_BYTES = 256 * 1024

T = TypeVar("T")
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Functions that turn a raw message of one schema_version into the next, by contract key."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, key: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: the function upgrades `key` messages from `from_version` to the next."""

        def add(step: Upcaster) -> Upcaster:
            if (key, from_version) in self._steps:
                raise ValueError(f"an upcaster for {key} v{from_version} is already registered")
            self._steps[key, from_version] = step
            return step

        return add

    def upcast(self, key: Any, raw: dict[str, Any]) -> dict[str, Any] | None:
        """The message brought to the newest version, or None when no upcaster applies."""
        version = raw.get("schema_version")
        # type() rather than isinstance(): JSON true must not pass for version 1.
        if type(key) is not str or type(version) is not int or (key, version) not in self._steps:
            return None
        while (step := self._steps.get((key, version))) is not None:
            raw = step(dict(raw))
            version += 1
            raw["schema_version"] = version
        return raw


# Production upcasters register here with @upcaster(...); every contract is at version 1,
# so there are none yet. Tests build their own Upcasters to exercise the mechanism.
UPCASTERS = Upcasters()
upcaster = UPCASTERS.register


class Codec:
    """Decodes bytes into contracts, raising only ContractError, and encodes contracts to bytes."""

    def __init__(self, upcasters: Upcasters = UPCASTERS) -> None:
        self._upcasters = upcasters

    def decode(self, contract: Contract[T], data: bytes) -> T:
        """The validated message in `data`; any failure is a ContractError naming fields."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise contract.error((_too_large(len(data)),))
        try:
            return contract.adapter.validate_json(data)
        except ValidationError as error:
            failure = error
        # Old versions fail the fast path (schema_version is a literal); only then pay for a
        # second parse to see whether an upcaster can bring the message up to date.
        upgraded = self._upgrade(contract, data)
        if upgraded is None:
            raise contract.error(_explain(contract, failure, data))
        try:
            return contract.adapter.validate_json(upgraded)
        except ValidationError as error:
            raise contract.invalid(error) from None

    def encode(self, message: BaseModel) -> bytes:
        """The message as compact JSON in UTF-8; refuses what decode() would refuse for size."""
        data = message.model_dump_json().encode("utf-8")
        if len(data) > MAX_MESSAGE_BYTES:
            raise ContractError("message_too_large", (_too_large(len(data)),))
        return data

    def _upgrade(self, contract: Contract[Any], data: bytes) -> bytes | None:
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(raw, dict):
            return None
        try:
            upgraded = self._upcasters.upcast(contract.upcaster_key(raw), raw)
            # Back to JSON, so upgraded messages meet exactly the rules fresh ones meet.
            return None if upgraded is None else json.dumps(upgraded).encode("utf-8")
        except Exception as exc:  # an upcaster meets hostile input too; it must not crash intake
            problem = Problem(
                field="schema_version",
                reason=f"cannot upgrade from version {raw.get('schema_version')}: {exc!r}"[:300],
            )
            raise contract.error((problem,)) from None


def _too_large(size: int) -> Problem:
    return Problem(field="", reason=f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")


def _explain(contract: Contract[Any], error: ValidationError, data: bytes) -> tuple[Problem, ...]:
    # pydantic reports bad UTF-8 as bad JSON at some column; name the real cause instead.
    if error.error_count() == 1 and error.errors()[0]["type"] == "json_invalid":
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            return (
                Problem(field="", reason=f"message is not UTF-8: {exc.reason} at byte {exc.start}"),
            )
    return contract.invalid(error).problems


CODEC = Codec()
decode = CODEC.decode
encode = CODEC.encode
