"""JSON Schema files of the public contracts, for publishers in any language; generate and check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.contracts import CATALOG, Contract

__all__ = ["SCHEMA_DIR", "SUFFIX", "check_all", "generate_all", "write_all"]

SCHEMA_DIR = Path(__file__).resolve().parent / "json"
SUFFIX = ".schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generate_all() -> dict[str, str]:
    """Every contract's JSON Schema, as file name -> file text, from the pydantic models."""
    return {f"{c.name}{SUFFIX}": _text(_schema(c)) for c in CATALOG}


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write the generated files into `directory`, removing stale ones; returns what changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in generate_all().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for stale in _stale(directory):
        stale.unlink()
        changed.append(stale)
    return changed


def check_all(directory: Path = SCHEMA_DIR) -> list[str]:
    """What differs between `directory` and the models, one line per file; empty when in step."""
    drift = []
    for name, text in generate_all().items():
        path = directory / name
        if not path.exists():
            drift.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            drift.append(f"{path}: differs from the models")
    drift.extend(f"{path}: no contract of that name" for path in _stale(directory))
    return drift


def _schema(contract: Contract[Any]) -> dict[str, Any]:
    schema = contract.adapter.json_schema(mode="validation")
    return {"$schema": _DIALECT, "$id": f"{contract.name}{SUFFIX}", **schema}


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _stale(directory: Path) -> list[Path]:
    expected = {f"{c.name}{SUFFIX}" for c in CATALOG}
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if p.name not in expected)
