"""A writable copy of the reference registry, and exact edits to its files."""

from __future__ import annotations

import shutil
from pathlib import Path

from schemas.registry import REFERENCE_REGISTRY

__all__ = ["edit", "reference_copy"]


def reference_copy(tmp_path: Path) -> Path:
    """A writable copy of the reference registry under `tmp_path`."""
    target = tmp_path / "registry"
    shutil.copytree(REFERENCE_REGISTRY, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first occurrence of one exact piece of text in a file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
