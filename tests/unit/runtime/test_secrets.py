"""Local secrets: made once, the same for every reader, readable only by their owner."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.runtime.secrets import ensure_secret, forget_secret, read_secret, secret_path

pytestmark = pytest.mark.unit


def test_a_secret_is_made_once_and_then_read_back(tmp_path):
    assert read_secret(tmp_path, "kafka-admin") is None
    made = ensure_secret(tmp_path, "kafka-admin")
    assert len(made) >= 40
    assert ensure_secret(tmp_path, "kafka-admin") == made == read_secret(tmp_path, "kafka-admin")
    assert ensure_secret(tmp_path, "other") != made


def test_a_forgotten_secret_is_gone_and_forgetting_twice_is_no_error(tmp_path):
    made = ensure_secret(tmp_path, "svc")
    forget_secret(tmp_path, "svc")
    forget_secret(tmp_path, "svc")
    assert read_secret(tmp_path, "svc") is None
    assert ensure_secret(tmp_path, "svc") != made


def test_only_the_owner_can_read_a_secret(tmp_path):
    ensure_secret(tmp_path, "kafka-admin")
    path = secret_path(tmp_path, "kafka-admin")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_racing_makers_agree_on_one_secret(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = set(pool.map(lambda _: ensure_secret(tmp_path, "raced"), range(32)))
    assert len(made) == 1
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["raced"]


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "sp ace"])
def test_a_name_that_could_leave_the_directory_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="secret name"):
        secret_path(tmp_path, name)
