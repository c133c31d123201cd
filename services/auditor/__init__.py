"""The auditor: replay the event log into an isolated schema, verify the history, report SLAs.

What other packages may use: verify and its findings, replay, the report's figures, the
read-only connection, and how a report on the log is identified (the fuzzer accounts for
its inputs with the auditor's own rules).
"""

from services.auditor.access import connect
from services.auditor.replay import ReplayResult, replay
from services.auditor.report import load_figures
from services.auditor.reportlog import identity
from services.auditor.settings import AuditorSettings
from services.auditor.verify import OUTCOMES, VerifyResult, verify

__all__ = [
    "OUTCOMES",
    "AuditorSettings",
    "ReplayResult",
    "VerifyResult",
    "connect",
    "identity",
    "load_figures",
    "replay",
    "verify",
]
