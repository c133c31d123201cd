"""Duty rosters: who is on duty across midnight, time zones and overrides; gaps refused at load."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.errors import RegistryError
from schemas.registry import REFERENCE_REGISTRY, load_registry, load_rosters

pytestmark = pytest.mark.unit

REGISTRY = load_registry()
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

PEOPLE = """\
people:
  - {id: an, name: An, channels: [{kind: webhook, address: "http://127.0.0.1:9/an"}]}
  - {id: binh, name: Bình, channels: [{kind: email, address: binh@example.vn}]}
  - {id: cuong, name: Cường, channels: [{kind: sms, address: "+84510300"}]}
  - {id: lead, name: Trưởng ca, channels: [{kind: email, address: lead@example.vn}]}
"""
DAY_AND_NIGHT = """\
shifts:
  - {team: noc, from: "07:00", until: "19:00", person: an, lead: lead}
  - {team: noc, from: "19:00", until: "07:00", person: binh, lead: lead}
"""


def write(tmp_path: Path, body: str, *, name: str = "vnpt.yaml") -> Path:
    """A registry folder whose rosters/ holds one file for VNPT with `body` after its header."""
    folder = tmp_path / "rosters"
    folder.mkdir(exist_ok=True)
    text = "enterprise: vnpt-quang-nam\nteams:\n  - {id: noc, name: NOC}\n" + PEOPLE
    (folder / name).write_text(text + textwrap.dedent(body), encoding="utf-8")
    return tmp_path


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def who(tmp_path: Path, body: str, when: str) -> str:
    rosters = load_rosters(write(tmp_path, body), REGISTRY)
    duty = rosters.on_duty("vnpt-quang-nam", "tam-ky", at(when))
    assert duty is not None
    return duty.person.id


@pytest.mark.parametrize(
    ("when", "person"),
    [
        ("2007-05-16T06:59", "binh"),  # Wednesday, the night shift begun on Tuesday
        ("2007-05-16T07:00", "an"),
        ("2007-05-16T18:59", "an"),
        ("2007-05-16T19:00", "binh"),
        ("2007-05-16T23:59", "binh"),
        ("2007-05-20T23:30", "binh"),  # Sunday night ...
        ("2007-05-21T03:00", "binh"),  # ... runs into Monday morning
    ],
)
def test_a_night_shift_runs_across_midnight(tmp_path, when, person):
    assert who(tmp_path, DAY_AND_NIGHT, when) == person


def test_the_moment_is_read_in_the_registrys_time_zone(tmp_path):
    # 23:30 UTC on 15 May is 06:30 on 16 May in Quảng Nam: still the night shift.
    rosters = load_rosters(write(tmp_path, DAY_AND_NIGHT), REGISTRY)
    utc = datetime.fromisoformat("2007-05-15T23:30:00+00:00")
    assert rosters.on_duty("vnpt-quang-nam", None, utc).person.id == "binh"
    utc = datetime.fromisoformat("2007-05-16T00:30:00+00:00")  # 07:30 local
    assert rosters.on_duty("vnpt-quang-nam", None, utc).person.id == "an"


OVERRIDE = (
    DAY_AND_NIGHT
    + """\
overrides:
  - {team: noc, from: "2007-05-20T06:00:00+07:00", until: "2007-05-20T12:00:00+07:00",
     person: cuong, lead: an, reason: Election day}
"""
)


@pytest.mark.parametrize(
    ("when", "person", "lead", "override"),
    [
        ("2007-05-20T05:59", "binh", "lead", False),
        ("2007-05-20T06:00", "cuong", "an", True),
        ("2007-05-20T11:59", "cuong", "an", True),
        ("2007-05-20T12:00", "an", "lead", False),
    ],
)
def test_an_override_replaces_the_weekly_shift_for_its_span(tmp_path, when, person, lead, override):
    rosters = load_rosters(write(tmp_path, OVERRIDE), REGISTRY)
    duty = rosters.on_duty("vnpt-quang-nam", "tam-ky", at(when))
    assert (duty.person.id, duty.lead.id, duty.override) == (person, lead, override)


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_rosters(write(tmp_path, body), REGISTRY)
    return [str(p) for p in caught.value.problems]


def test_a_gap_in_a_roster_is_a_load_error_not_a_silent_no_one(tmp_path):
    found = problems(
        tmp_path,
        """\
        shifts:
          - {team: noc, from: "07:00", until: "19:00", person: an, lead: lead}
          - {team: noc, from: "20:00", until: "07:00", person: binh, lead: lead}
        """,
    )
    assert any("team noc has no one on duty mon 19:00–mon 20:00" in p for p in found), found
    assert any("vnpt.yaml, line" in p and "key shifts" in p for p in found), found


def test_a_weekday_shift_leaves_the_weekend_uncovered(tmp_path):
    found = problems(
        tmp_path,
        """\
        shifts:
          - {team: noc, days: [mon, tue, wed, thu, fri], from: "00:00", until: "00:00",
             person: an, lead: lead}
        """,
    )
    assert any("sat 00:00–sun 24:00" in p or "sat 00:00" in p for p in found), found


def test_overlapping_shifts_and_unknown_names_are_refused_with_their_lines(tmp_path):
    found = problems(
        tmp_path,
        """\
        shifts:
          - {team: noc, from: "07:00", until: "19:00", person: an, lead: lead}
          - {team: noc, from: "18:00", until: "07:00", person: nobody, lead: lead}
        overrides:
          - {team: other, from: "2007-05-20T06:00:00+07:00", until: "2007-05-20T07:00:00+07:00",
             person: an, lead: lead}
        """,
    )
    text = "\n".join(found)
    assert "key shifts[1]: overlaps shifts[0] at mon 18:00" in text
    assert "key shifts[1].person: unknown person 'nobody'" in text
    assert "key overrides[0].team: unknown team 'other'" in text
    assert all(", line " in p for p in found), found


def test_an_override_that_ends_before_it_begins_is_refused(tmp_path):
    found = problems(
        tmp_path,
        DAY_AND_NIGHT
        + textwrap.dedent(
            """\
            overrides:
              - {team: noc, from: "2007-05-20T06:00:00+07:00", until: "2007-05-20T05:00:00+07:00",
                 person: an, lead: lead}
            """
        ),
    )
    assert any("overrides[0]" in p and "`until` must be after `from`" in p for p in found), found


def test_an_unquoted_time_says_to_quote_it(tmp_path):
    found = problems(
        tmp_path,
        """\
        shifts:
          - {team: noc, from: 07:00, until: 19:00, person: an, lead: lead}
        """,
    )
    assert any("write the time in quotes" in p and "1140" in p for p in found), found


def test_a_second_roster_for_one_enterprise_and_an_unknown_enterprise_are_refused(tmp_path):
    write(tmp_path, DAY_AND_NIGHT, name="a.yaml")
    write(tmp_path, DAY_AND_NIGHT, name="b.yaml")
    (tmp_path / "rosters" / "c.yaml").write_text(
        (tmp_path / "rosters" / "a.yaml").read_text().replace("vnpt-quang-nam", "nobody-corp")
    )
    with pytest.raises(RegistryError) as caught:
        load_rosters(tmp_path, REGISTRY)
    text = str(caught.value)
    assert "vnpt-quang-nam already has a roster in a.yaml" in text
    assert "unknown enterprise 'nobody-corp'" in text


def test_the_reference_rosters_cover_every_enterprise_and_the_election_days():
    rosters = load_rosters(REFERENCE_REGISTRY, REGISTRY)
    assert {r.enterprise for r in rosters.rosters} == {e.id for e in REGISTRY.enterprises}
    before = rosters.on_duty("vnpt-quang-nam", "tam-ky", at("2007-05-18T10:00"))
    during = rosters.on_duty("vnpt-quang-nam", "tam-ky", at("2007-05-20T10:00"))
    assert not before.override and during.override  # denser shifts on 19–21 May
    highland = rosters.on_duty("vnpt-quang-nam", "nam-giang", at("2007-05-18T10:00"))
    assert highland.team.id == "ung-cuu-mien-nui"
    assert rosters.version.startswith("sha256:")
    assert load_rosters(REFERENCE_REGISTRY, REGISTRY).version == rosters.version


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ('{kind: webhook, address: "http://[::1/"}', "URL with a host"),
        ('{kind: webhook, address: "http://host:99999/x"}', "URL with a host"),
        ('{kind: email, address: "an@example.vn\\nBcc: x@example.vn"}', "control characters"),
        ('{kind: sms, address: "+84 510"}', "digits"),
    ],
)
def test_an_address_no_channel_could_use_is_refused_at_load(tmp_path, channel, reason):
    folder = tmp_path / "rosters"
    folder.mkdir()
    (folder / "vnpt.yaml").write_text(
        "enterprise: vnpt-quang-nam\nteams: [{id: noc, name: NOC}]\n"
        f"people: [{{id: an, name: An, channels: [{channel}]}}]\n"
        'shifts: [{team: noc, from: "00:00", until: "00:00", person: an, lead: an}]\n',
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as caught:
        load_rosters(tmp_path, REGISTRY)
    assert reason in str(caught.value) and "people[0].channels[0]" in str(caught.value)


def test_a_roster_with_a_character_yaml_forbids_is_a_load_error_with_its_file(tmp_path):
    write(tmp_path, DAY_AND_NIGHT)
    (tmp_path / "rosters" / "vnpt.yaml").write_text("enterprise: vnpt\x00\n", encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_rosters(tmp_path, REGISTRY)
    assert "vnpt.yaml" in str(caught.value) and "special characters" in str(caught.value)
