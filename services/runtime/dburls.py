"""Database URLs whose password may be left out: it is then the local secret `postgres-<role>`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

from services.runtime.secrets import required_secret, secret_path


def written(url: SecretStr) -> str:
    """The URL as it was set, without a password looked up."""
    return url.given if isinstance(url, DatabaseUrl) else url.get_secret_value()


def role_of(url: SecretStr) -> str:
    """The role the URL logs in as."""
    return unquote(urlsplit(written(url)).username or "")


def explicit_password(url: SecretStr) -> str | None:
    """The password written in the URL (a managed server's), or None when it is left out."""
    password = urlsplit(written(url)).password
    return unquote(password) if password else None


def secret_name(role: str) -> str:
    """The local secret that holds `role`'s password when no URL spells it out."""
    return f"postgres-{role}"


def with_password(url: str, password: str) -> str:
    """`url` with `password` put in after its user."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}:{quote(password, safe='')}@{host}"
    return parts._replace(netloc=netloc).geturl()


class DatabaseUrl(SecretStr):
    """A PostgreSQL URL of a settings field; a password left out is read from the local
    secrets each time the URL is used, so a password the stack sets later is found."""

    def __init__(self, url: str, *, home: Path, variable: str) -> None:
        super().__init__(url)
        self.home = home
        self.variable = variable

    @property
    def given(self) -> str:
        return self._secret_value

    def get_secret_value(self) -> str:
        """The URL with its password: the one written in it, or the role's local secret."""
        if explicit_password(self) is not None:
            return self.given
        role = role_of(self)
        missing = (
            f"{self.variable}: the URL has no password and there is no local secret "
            f"{secret_path(self.home, secret_name(role))}; `signalpost postgres start` "
            f"makes it for the local server, or write role {role}'s password in the URL"
        )
        password = required_secret(self.home, secret_name(role), missing=missing)
        return with_password(self.given, password)

    # Compared as written: comparing must not read (or miss) a secret.
    def __eq__(self, other: Any) -> bool:
        return isinstance(other, DatabaseUrl) and (self.given, self.home) == (
            other.given,
            other.home,
        )

    def __hash__(self) -> int:
        return hash((self.given, self.home))
