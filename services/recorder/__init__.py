"""The recorder: the incident event log written into PostgreSQL timelines, effectively once."""
