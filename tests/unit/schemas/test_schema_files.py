"""The committed JSON Schema files match the models, and every example behaves as it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.__main__ import main
from schemas.codec import decode
from schemas.contracts import CATALOG
from schemas.errors import ContractError
from schemas.jsonschema import SCHEMA_DIR, check_all, generate_all, write_all

pytestmark = pytest.mark.unit

BY_NAME = {contract.name: contract for contract in CATALOG}
VALID = sorted((SCHEMA_DIR / "examples" / "valid").glob("*.json"))
INVALID = sorted((SCHEMA_DIR / "examples" / "invalid").glob("*.json"))


def test_committed_schema_files_equal_the_generated_ones() -> None:
    assert check_all() == [], "run `python -m schemas generate` and commit the result"
    for name, text in generate_all().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text


def test_check_reports_drift_and_generate_repairs_it(tmp_path: Path) -> None:
    write_all(tmp_path)
    (tmp_path / "task.schema.json").write_text("{}", encoding="utf-8")
    (tmp_path / "report.schema.json").unlink()
    (tmp_path / "gone.schema.json").write_text("{}", encoding="utf-8")
    drift = check_all(tmp_path)
    assert len(drift) == 3
    assert main(["check", "--dir", str(tmp_path)]) == 1
    assert main(["generate", "--dir", str(tmp_path)]) == 0
    assert main(["check", "--dir", str(tmp_path)]) == 0
    assert not (tmp_path / "gone.schema.json").exists()


def test_every_report_kind_has_valid_and_invalid_examples() -> None:
    for kind in ("line-fault", "capacity-alarm", "suspicious-parcel"):
        assert any(kind in p.name for p in VALID), kind
        assert any(kind in p.name for p in INVALID), kind


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_examples_decode(path: Path) -> None:
    contract = BY_NAME[path.name.split(".")[0]]
    decode(contract, path.read_bytes())


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_examples_fail_on_the_field_they_name(path: Path) -> None:
    example = json.loads(path.read_text(encoding="utf-8"))
    contract = BY_NAME[path.name.split(".")[0]]
    with pytest.raises(ContractError) as caught:
        decode(contract, json.dumps(example["payload"], ensure_ascii=False).encode())
    assert example["expected_field"] in [p.field for p in caught.value.problems]
