"""The rule file in force: loaded at start, reloaded when it changes, the last good one kept."""

from __future__ import annotations

from pathlib import Path

import structlog

from schemas.registry import Registry
from services.router.loading import load_rule_set
from services.router.problems import RuleSetError
from services.router.ruleset import RuleSet

log = structlog.get_logger(component="router")
# Well inside the codec's message limit, whatever else the activation event carries.
RULES_TEXT_MAX_BYTES = 128 * 1024


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class RuleFile:
    """Watches one rule file; a bad edit is logged and ignored, never put in force."""

    def __init__(self, path: Path, registry: Registry) -> None:
        self.path = path
        self.registry = registry
        self._fingerprint = _fingerprint(path)
        # At start there is no last good rule set: a bad file stops the router with its reason.
        self.current: RuleSet = load_rule_set(path, registry)
        self.current_text: str | None = _text(path)

    def reload_if_changed(self) -> bool:
        """Load the file again if it changed; True when a new, valid rule set is now in force."""
        fingerprint = _fingerprint(self.path)
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            candidate = load_rule_set(self.path, self.registry)
        except (RuleSetError, OSError) as exc:
            log.error("ruleset_rejected", error=str(exc), keeping=self.current.version)
            return False
        if candidate.version == self.current.version:
            return False
        self.current = candidate
        self.current_text = _text(self.path)
        return True


def _text(path: Path) -> str | None:
    """The file's text for the activation event (the auditor checks it against the version).

    None when unreadable or too big for the event; auditors then need their archive.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text.encode("utf-8")) <= RULES_TEXT_MAX_BYTES else None
