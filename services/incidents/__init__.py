"""The incident manager's pure core: per-key incident state, decisions, deadlines, tasks."""

from services.incidents.deadlines import Timer, decide_due, escalation_chain, next_due, timers
from services.incidents.machine import decide, summary
from services.incidents.policy import ClearAction, Policy, RejectAction
from services.incidents.state import (
    IncidentState,
    IncidentStateError,
    IncidentStatus,
    PendingDeadline,
    apply,
    fold,
    tasks_to_publish,
)

__all__ = [
    "ClearAction",
    "IncidentState",
    "IncidentStateError",
    "IncidentStatus",
    "PendingDeadline",
    "Policy",
    "RejectAction",
    "Timer",
    "apply",
    "decide",
    "decide_due",
    "escalation_chain",
    "fold",
    "next_due",
    "summary",
    "tasks_to_publish",
    "timers",
]
