"""`signalpost oncall`: who is on duty, in text and JSON, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest

from services.cli.main import main

pytestmark = pytest.mark.unit


def oncall(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(["oncall", *args])
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out, err


def test_it_names_the_election_shift_and_the_area_team(capsys):
    code, out, _ = oncall(
        capsys, "--enterprise", "vnpt-quang-nam", "--district", "nam-giang",
        "--at", "2007-05-20T07:30", "--json",
    )  # fmt: skip
    row = json.loads(out)
    assert code == 0 and row["override"] is True and row["team"] == "ung-cuu-mien-nui"
    assert row["at"] == "2007-05-20T07:30:00+07:00"


def test_every_enterprise_with_a_roster_is_listed(capsys):
    code, out, _ = oncall(capsys, "--at", "2007-05-18T10:00:00+07:00")
    assert code == 0 and "weekly shift" in out
    assert out.count("\n  ") + 1 >= 25  # the reference rosters: every enterprise


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--at", "yesterday"), "--at: Invalid isoformat string"),
        (("--enterprise", "nobody"), "--enterprise nobody: no such enterprise"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = oncall(capsys, *args)
    assert code == 2 and message in err and out == ""
