"""Rule sets by version: every rule set the auditor can find, so old decisions can be redone.

Activations record a rule set's version (a hash of its content) and, from routers that
write it, the rule file's text; for older activations a file with that content must still
be somewhere: the archive directory, the file the activation names, or the reference set.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from schemas.registry import Registry
from services.router import REFERENCE_RULES, RuleSet, RuleSetError, load_rule_set


class RuleBook:
    """The rule sets found, by version, each loaded against the auditor's registry."""

    def __init__(
        self, registry: Registry, files: Iterable[Path], texts: Iterable[str] = ()
    ) -> None:
        self.registry = registry
        self.by_version: dict[str, RuleSet] = {}
        self.unreadable: dict[Path, str] = {}
        with tempfile.TemporaryDirectory(prefix="signalpost-rules-") as scratch:
            logged = []
            for n, text in enumerate(dict.fromkeys(texts)):
                # The loader reads files; the text from the log is checked like any other file.
                path = Path(scratch) / f"from-the-log-{n}.yaml"
                path.write_text(text, encoding="utf-8")
                logged.append(path)
            self._load([*logged, *files])

    def _load(self, files: Iterable[Path]) -> None:
        for path in dict.fromkeys(Path(f) for f in files):
            try:
                rules = load_rule_set(path, self.registry)
            except (RuleSetError, OSError) as exc:
                self.unreadable[path] = str(exc).splitlines()[0]
                continue
            self.by_version.setdefault(rules.version, rules)

    def get(self, version: str) -> RuleSet | None:
        """The rule set with this version, if any file found has it."""
        return self.by_version.get(version)

    @property
    def versions(self) -> frozenset[str]:
        return frozenset(self.by_version)


def rule_files(
    archive: Path | None, named: Iterable[str], extra: Iterable[Path] = ()
) -> list[Path]:
    """Candidate rule files: the archive's, those activations name (if present), the reference."""
    found = sorted(archive.rglob("*.y*ml")) if archive and archive.is_dir() else []
    found += [Path(n) for n in named if Path(n).is_file()]
    return [*found, *extra, REFERENCE_RULES]
