"""HTTP errors in the shared error shape: a status, a code and problems naming fields."""

from __future__ import annotations

from schemas.errors import ErrorBody, Problem, SignalPostError


class ApiError(SignalPostError):
    """A request the gateway refuses; answered as `ErrorBody` with `status`."""

    def __init__(self, status: int, code: str, field: str, reason: str) -> None:
        self.status = status
        self.code = code
        self.problems: tuple[Problem, ...] = (Problem(field=field, reason=reason),)
        super().__init__(f"{status} {code}: {field}: {reason}")

    @classmethod
    def from_problems(cls, status: int, code: str, problems: tuple[Problem, ...]) -> ApiError:
        """An error carrying several problems (a contract's, for instance)."""
        error = cls(status, code, "", "")
        error.problems = problems
        return error

    def body(self) -> ErrorBody:
        """The error as the shared shape."""
        return ErrorBody(error=self.code, problems=self.problems)


def unauthorized(reason: str = "missing, unknown or revoked token") -> ApiError:
    """401: no usable token."""
    return ApiError(401, "unauthorized", "authorization", reason)


def forbidden(reason: str) -> ApiError:
    """403: the token's role may not do this."""
    return ApiError(403, "forbidden", "authorization", reason)


def not_found(field: str, reason: str) -> ApiError:
    """404: nothing the caller may see has this name."""
    return ApiError(404, "not_found", field, reason)


def unavailable(part: str, reason: str) -> ApiError:
    """503: a part the gateway needs (`kafka`, `postgres`) did not answer in time or refused."""
    return ApiError(503, "unavailable", part, f"{reason}; retry later")
