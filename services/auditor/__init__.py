"""The auditor: replay the event log into an isolated schema, verify the history, report SLAs.

What other packages may use: verify and its findings, replay, the report's figures (read
on the auditor's connection or on a caller's, one enterprise's alone, as JSON with their
charts and the charts' style), the read-only connection, and how a report on the log is
identified (the fuzzer accounts for its inputs with the auditor's own rules).
"""

from services.auditor.access import connect
from services.auditor.charts import report_charts
from services.auditor.export import figures_json
from services.auditor.figures import Figures, for_enterprise
from services.auditor.html import CHART_STYLE
from services.auditor.replay import ReplayResult, replay
from services.auditor.report import figures_on, load_figures
from services.auditor.reportlog import identity
from services.auditor.settings import AuditorSettings
from services.auditor.verify import OUTCOMES, VerifyResult, verify

__all__ = [
    "CHART_STYLE",
    "OUTCOMES",
    "AuditorSettings",
    "Figures",
    "ReplayResult",
    "VerifyResult",
    "connect",
    "figures_json",
    "figures_on",
    "for_enterprise",
    "identity",
    "load_figures",
    "replay",
    "report_charts",
    "verify",
]
