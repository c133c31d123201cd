"""Report kinds as rules group them: every kind, and the kinds a condition or party fits."""

from __future__ import annotations

from schemas.reports import ReportKind

__all__ = ["ALL_KINDS", "CAPACITY", "LINE", "PARCEL", "TELECOM", "Kinds"]

Kinds = frozenset[ReportKind]
ALL_KINDS: Kinds = frozenset(ReportKind)
LINE: Kinds = frozenset({ReportKind.LINE_FAULT})
CAPACITY: Kinds = frozenset({ReportKind.CAPACITY_ALARM})
PARCEL: Kinds = frozenset({ReportKind.SUSPICIOUS_PARCEL})
TELECOM: Kinds = LINE | CAPACITY
