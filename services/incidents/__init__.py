"""The incident manager's pure core: per-key incident state, decisions, deadlines, tasks."""

from services.incidents.deadlines import (
    Timer,
    TimerAction,
    decide_due,
    escalation_chain,
    evictable,
    next_due,
    retained_until,
    timers,
)
from services.incidents.handler import decide_input
from services.incidents.machine import decide, summary
from services.incidents.policy import ClearAction, Policy, RejectAction
from services.incidents.settings import PolicySettings
from services.incidents.state import (
    IncidentState,
    IncidentStateError,
    IncidentStatus,
    PendingDeadline,
)
from services.incidents.transitions import apply, fold, tasks_to_publish

__all__ = [
    "ClearAction",
    "IncidentState",
    "IncidentStateError",
    "IncidentStatus",
    "PendingDeadline",
    "Policy",
    "PolicySettings",
    "RejectAction",
    "Timer",
    "TimerAction",
    "apply",
    "decide",
    "decide_due",
    "decide_input",
    "escalation_chain",
    "evictable",
    "fold",
    "next_due",
    "retained_until",
    "summary",
    "tasks_to_publish",
    "timers",
]
