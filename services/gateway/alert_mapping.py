"""An Alertmanager webhook payload in, one report (a dict for the report model) per alert out.

The payload is Alertmanager's webhook version 4. Each alert occurrence (fingerprint and
startsAt) gets one stable report id, so Alertmanager's resends are duplicates; a resolved
alert is the clear of the same alarm, under its own id. No I/O: the time comes in as `now`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.reports import PerceivedSeverity
from services.gateway.alert_rules import PLACEHOLDER, AlertRule, AlertRules, fillable_fields

__all__ = ["Alert", "AlertmanagerPayload", "UnmappedAlert", "alert_report", "alert_report_id"]

Fingerprint = str
Labels = dict[str, str]


class _Received(BaseModel):
    # Alertmanager adds fields over its versions; what this receiver does not read it ignores.
    model_config = ConfigDict(frozen=True, extra="ignore")


# The fields keep Alertmanager's spelling (camelCase), so the models read as its documents do.
class Alert(_Received):
    """One alert of a notification, as Alertmanager sends it."""

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: Fingerprint = Field(pattern=r"^[0-9a-fA-F]{1,32}$")


class AlertmanagerPayload(_Received):
    """Alertmanager's webhook notification (`webhook_config`, payload version 4)."""

    version: Literal["4"]
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[Alert] = Field(min_length=1)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0


class UnmappedAlert(ValueError):
    """An alert the mapping cannot make a report of; `field` names the report field (or labels)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def alert_report_id(alert: Alert) -> str:
    """The id of the alert occurrence's report: the same on every resend; a clear's apart."""
    base = f"am-{alert.fingerprint.lower()}-{int(alert.startsAt.timestamp())}"
    return f"{base}-resolved" if alert.status == "resolved" else base


def alert_report(alert: Alert, rules: AlertRules, *, now: datetime) -> dict[str, Any]:
    """The report the first matching rule makes of `alert`, reported at `now`, not yet
    validated (the report model does that, naming the field); UnmappedAlert if no rule
    matches or a field's label is missing."""
    rule = next((r for r in rules.rules if r.matches(alert.labels)), None)
    if rule is None:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(alert.labels.items()))[:200]
        raise UnmappedAlert("labels", f"no rule of {rules.file.name} matches {{{shown}}}")
    resolved = alert.status == "resolved"
    occurred = alert.endsAt if resolved and alert.endsAt is not None else alert.startsAt
    report: dict[str, Any] = {
        "kind": rule.kind,
        "schema_version": 1,
        "report_id": alert_report_id(alert),
        "occurred_at": occurred.isoformat(),
        "reported_at": now.isoformat(),
    }
    types = fillable_fields(rule.kind)
    for path, value in rule.fields.items():
        filled = _render(value, alert, path, rule) if isinstance(value, str) else value
        _put(report, path, _typed(filled, types[path][0]))
    if resolved:
        report["perceived_severity"] = PerceivedSeverity.CLEARED.value
    elif report.get("perceived_severity") == PerceivedSeverity.CLEARED.value:
        # Only Alertmanager's own `resolved` ends an alarm: a label cannot make a firing
        # alert a clear of the very incident it raises.
        reason = "a firing alert cannot be 'cleared'; the alert's status 'resolved' clears it"
        raise UnmappedAlert("perceived_severity", reason)
    return report


def _render(template: str, alert: Alert, path: str, rule: AlertRule) -> str:
    def fill(placeholder: re.Match[str]) -> str:
        source, name, default = placeholder.groups()
        # Prometheus drops a label with an empty value: empty is missing.
        found = (alert.labels if source == "labels" else alert.annotations).get(name) or default
        if found is None:
            reason = f"the alert has no {source[:-1]} {name!r} (rule {rule.number}: {template!r})"
            raise UnmappedAlert(path, reason)
        return found

    text = PLACEHOLDER.sub(fill, template)
    return rule.values.get(path, {}).get(text, text)


def _typed(value: Any, kind: Any) -> Any:
    """Label text as the field's JSON type, when it reads as one; else as is (the model says
    what is wrong with it, naming the field)."""
    if not isinstance(value, str):
        return value
    if kind is bool and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind is float:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _put(report: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    into: dict[str, Any] = report
    for name in parents:
        into = into.setdefault(name, {})
    into[leaf] = value
