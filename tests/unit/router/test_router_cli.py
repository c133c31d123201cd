"""`signalpost route --explain FILE`: the rule author's dry run, from the command line."""

from __future__ import annotations

import json

import pytest

from schemas.example_reports import EXAMPLES
from services.cli.main import main

pytestmark = pytest.mark.unit
HOTLINE = EXAMPLES / "report.line-fault-election-hotline.json"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    out = capsys.readouterr()
    return ended.value.code, out.out, out.err


def test_explain_names_the_rule_the_misses_and_the_decision(capsys):
    code, out, _ = run(capsys, "route", "--explain", str(HOTLINE))
    assert code == 0
    assert "election-line-election-days" in out
    assert "vnpt-quang-nam" in out


def test_explain_json_is_machine_readable(capsys):
    code, out, _ = run(capsys, "route", "--explain", str(HOTLINE), "--json")
    assert code == 0
    assert json.loads(out)["decision"]["rule_id"] == "election-line-election-days"


def test_a_bad_report_file_is_one_clear_line(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(HOTLINE.read_text().replace('"tien-phuoc"', '"Tien Phuoc"'))
    code, out, err = run(capsys, "route", "--explain", str(bad))
    assert code == 1 and not out
    assert err.startswith("signalpost: error: invalid_report: district")
