"""The recorder: the incident event log written into PostgreSQL timelines, effectively once.

What other packages may use: the auditor replays the log through the same decoding,
projection and upserts, collecting garbage by the batch as well (so a replay is the
recorder's own code, not a copy of it); the
gateway and the command line read timelines, notification attempts and outcomes from the
store.
"""

from services.recorder.collection import BatchCollection
from services.recorder.projection import COLUMNS, IncidentRow, project_event
from services.recorder.rows import CONTRACT_OF_TOPIC, Batch, Decoded, decode_message
from services.recorder.service import Recorder, decode_polled
from services.recorder.settings import RecorderSettings
from services.recorder.store import (
    UPSERT_INCIDENTS,
    RecordCounts,
    find_incidents,
    notification_attempts,
    read_offsets,
    record,
    timeline,
)

__all__ = [
    "COLUMNS",
    "CONTRACT_OF_TOPIC",
    "UPSERT_INCIDENTS",
    "Batch",
    "BatchCollection",
    "Decoded",
    "IncidentRow",
    "RecordCounts",
    "Recorder",
    "RecorderSettings",
    "decode_message",
    "decode_polled",
    "find_incidents",
    "notification_attempts",
    "project_event",
    "read_offsets",
    "record",
    "timeline",
]
