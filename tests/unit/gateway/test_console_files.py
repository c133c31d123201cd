"""The console's files: every label in both languages, and nothing loaded from elsewhere."""

from __future__ import annotations

import json
import re
import typing

from schemas.lifecycle import DeadlineKind
from schemas.reports import ReportKind
from schemas.tasks import TaskRole, TaskStatus
from services.gateway import ACTIONS, Role
from services.gateway.console import CONSOLE_DIR
from services.incidents.state import IncidentStatus
from services.router.engine import RuleOutcome

LABELS = json.loads((CONSOLE_DIR / "labels.json").read_text(encoding="utf-8"))
SOURCES = {
    path.name: path.read_text(encoding="utf-8")
    for path in CONSOLE_DIR.iterdir()
    if path.suffix in {".js", ".html", ".css"}
}


def event_types() -> list[str]:
    """The type of every lifecycle event."""
    from schemas import lifecycle

    union = typing.get_args(typing.get_args(lifecycle.IncidentEvent)[0])
    return [member.model_fields["type"].default for member in union]


def keys_used() -> set[str]:
    """Each label named literally: `t("key")` in the scripts, `data-i18n` and "col." in both."""
    found: set[str] = set()
    for text in SOURCES.values():
        found |= set(re.findall(r"""(?<![\w.])t\("([\w.-]+)\"""", text))
        found |= set(re.findall(r'data-i18n="([\w.-]+)"', text))
        found |= set(re.findall(r'"(col\.[\w]+)"', text))
    return found


def keys_of_values() -> set[str]:
    """Labels made from a value: a status, kind, role, action, deadline or event's type."""
    return (
        {f"status.{s}" for s in TaskStatus}
        | {f"kind.{k}" for k in ReportKind}
        | {f"role.{r}" for r in TaskRole}
        | {f"role.{r}" for r in Role}
        | {f"action.{a}" for a in ACTIONS}
        | {f"deadline.{d}" for d in DeadlineKind}
        | {f"clockstate.{s}" for s in ("met", "missed", "running", "stopped")}
        | {f"outcome.{o.replace(' ', '_')}" for o in RuleOutcome}
        | {f"status.{s}" for s in IncidentStatus}
        | {f"event.{e}" for e in event_types()}
        | {"lang.en", "lang.vi", "live.live", "live.reconnecting", "sound.on", "sound.off"}
    )


def test_both_languages_have_every_label_and_none_is_empty():
    assert set(LABELS) == {"vi", "en"}
    assert set(LABELS["vi"]) == set(LABELS["en"])
    assert all(text.strip() for texts in LABELS.values() for text in texts.values())


def test_every_label_the_console_names_exists():
    assert len(keys_used()) > 80  # the patterns still find the labels
    missing = (keys_used() | keys_of_values()) - set(LABELS["vi"])
    assert not missing, sorted(missing)


def test_vietnamese_is_the_page_default():
    assert '<html lang="vi">' in SOURCES["index.html"]


def test_the_console_loads_nothing_from_another_origin():
    for name, text in SOURCES.items():
        assert not re.search(r"https?://|//cdn|@import|fonts\.", text), name
        assert not re.search(r"<script(?![^>]*\bsrc=\"/console/static/)", text), name


def test_no_api_value_becomes_markup_except_the_escaped_charts():
    uses = [(n, line) for n, t in SOURCES.items() for line in t.splitlines() if "innerHTML" in line]
    assert [n for n, _ in uses] == ["audit.js"], uses
