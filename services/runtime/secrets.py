"""Secrets the local stack makes for itself: generated once, kept in files only their owner
can read, under HOME/secrets. Nothing in the repository or a default setting holds one."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from services.runtime.errors import ConfigurationError

SECRET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def secret_path(home: Path, name: str) -> Path:
    """Where the local secret called `name` is kept."""
    if not SECRET_NAME.match(name) or name.startswith("."):
        raise ValueError(f"secret name {name!r}: letters, digits, '.', '_' and '-' only")
    return home / "secrets" / name


def read_secret(home: Path, name: str) -> str | None:
    """The local secret `name`, or None if it was never made."""
    try:
        return secret_path(home, name).read_text().strip() or None
    except FileNotFoundError:
        return None


def required_secret(home: Path, name: str, *, missing: str) -> str:
    """The local secret `name`; a ConfigurationError saying `missing` if it was never made."""
    found = read_secret(home, name)
    if found is None:
        raise ConfigurationError(missing)
    return found


def ensure_secret(home: Path, name: str) -> str:
    """The local secret `name`, generated (32 random bytes, URL-safe) on first use.

    Two processes asking at once get the same secret: the file is created exclusively,
    and the loser reads the winner's.
    """
    path = secret_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    existing = read_secret(home, name)
    if existing:
        return existing
    draft = path.with_name(f".{name}.{secrets.token_hex(8)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    # A hard link appears whole or not at all, and fails if another process linked first.
    with contextlib.suppress(FileExistsError):
        os.link(draft, path)
    draft.unlink()
    found = read_secret(home, name)
    assert found is not None  # linked just now, by this process or the one that won
    return found


def forget_secret(home: Path, name: str) -> None:
    """Delete the local secret `name`, if it was ever made."""
    secret_path(home, name).unlink(missing_ok=True)
