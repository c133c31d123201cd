"""The README tells a newcomer the truth: every command it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.cli.main import build_parser

pytestmark = pytest.mark.unit


def test_every_command_the_readme_names_exists():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    for target in ("demo", "test"):
        assert f"make {target}" in readme and f"\n{target}:" in makefile
    named = set(re.findall(r"`signalpost ([a-z]+)", readme))
    choices = build_parser()._subparsers._group_actions[0].choices
    assert named and named <= set(choices), named - set(choices)
