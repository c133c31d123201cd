"""The project's exception base, and the contract errors every stage reports the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "MAX_PROBLEMS",
    "MAX_PROBLEM_CHARS",
    "ContractError",
    "ErrorBody",
    "Problem",
    "RegistryError",
    "RegistryProblem",
    "SignalPostError",
    "clip",
    "error_details",
    "field_path",
    "problems_from",
]

# Hostile input can produce thousands of errors (one per unknown key) or echo a huge key back;
# a dead letter or an HTTP body must stay small whatever the input was.
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 300
_TAG_ERRORS = frozenset({"union_tag_not_found", "union_tag_invalid"})


class SignalPostError(Exception):
    """Base of every error SignalPost raises on purpose."""


class Problem(BaseModel):
    """One thing wrong with a message: the dotted path of the field and the reason in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    reason: str


class ErrorBody(BaseModel):
    """The one error shape of dead-letter records and HTTP 4xx bodies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    error: str
    problems: tuple[Problem, ...]


class ContractError(SignalPostError):
    """A message does not meet its contract; carries every problem found, each naming its field."""

    def __init__(self, code: str, problems: Sequence[Problem]) -> None:
        self.code = code
        self.problems = tuple(problems)
        super().__init__(f"{code}: " + "; ".join(_describe(p) for p in self.problems))

    def body(self) -> ErrorBody:
        """The error as the shared pydantic shape, for embedding in other contracts."""
        return ErrorBody(error=self.code, problems=self.problems)

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-serialisable dict: `{"error": ..., "problems": [...]}`."""
        return self.body().model_dump(mode="json")


@dataclass(frozen=True)
class RegistryProblem:
    """One thing wrong in a registry file: where (file, line, key path) and why."""

    file: Path
    line: int | None
    key: str
    reason: str

    def __str__(self) -> str:
        """The problem as one line an operator can act on."""
        line = f", line {self.line}" if self.line is not None else ""
        key = f", key {self.key}" if self.key else ""
        return f"{self.file}{line}{key}: {self.reason}"


class RegistryError(SignalPostError):
    """A registry data file cannot be read or does not hold a consistent registry."""

    def __init__(self, problems: Sequence[RegistryProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("bad registry:\n" + "\n".join(f"  {p}" for p in self.problems))


def field_path(loc: Iterable[str | int]) -> str:
    """A pydantic error location as a dotted path: `alarmed_object.id`, `indicators[2]`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def error_details(error: ValidationError) -> list[Any]:
    """pydantic's error details, without complaints about a container caused by its items."""
    details = error.errors(include_url=False, include_input=False, include_context=True)
    # A tuple whose only item is invalid is also reported as "too short"; that second error
    # is a consequence, and naming it sends the reader after a problem that is not there.
    parents = {tuple(d["loc"][:n]) for d in details for n in range(len(d["loc"]))}
    return [d for d in details if tuple(d["loc"]) not in parents]


def problems_from(error: ValidationError, *, union_tag: str | None = None) -> tuple[Problem, ...]:
    """The problems of a pydantic error; for a tagged union, paths start inside the member."""
    details = error_details(error)
    problems = [_problem(detail, union_tag) for detail in details[:MAX_PROBLEMS]]
    if len(details) > MAX_PROBLEMS:
        problems.append(Problem(field="", reason=f"and {len(details) - MAX_PROBLEMS} more"))
    return tuple(problems)


def _problem(detail: Any, union_tag: str | None) -> Problem:
    loc = tuple(detail["loc"])
    if union_tag is not None:
        # pydantic puts the member's tag first ("line_fault.district"); a reader only knows
        # the payload, and a missing or unknown tag is a problem of the tag field itself.
        loc = (union_tag,) if detail["type"] in _TAG_ERRORS else loc[1:]
        if detail["type"] == "union_tag_not_found":
            detail = {**detail, "msg": "Field required: it says which kind of message this is"}
    # Checks that span fields (a model validator) put the field they blame in ctx["field"].
    blamed = detail.get("ctx", {}).get("field")
    if blamed:
        loc = (*loc, blamed)
    return Problem(field=clip(field_path(loc)), reason=clip(detail["msg"]))


def clip(text: str) -> str:
    """The text cut to MAX_PROBLEM_CHARS, with an ellipsis when it was longer."""
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 1] + "…"


def _describe(problem: Problem) -> str:
    return f"{problem.field}: {problem.reason}" if problem.field else problem.reason
