"""A minimal faust-streaming app run as a real worker by test_faust.py: upper-cases each value."""

import os

import faust

from services.incidents.app import faust_credentials
from services.incidents.settings import IncidentSettings

app = faust.App(
    os.environ["PROBE_APP_ID"],
    broker=";".join(f"kafka://{s}" for s in os.environ["PROBE_BOOTSTRAP"].split(",")),
    broker_credentials=faust_credentials(IncidentSettings()),  # as the incident manager's
    store="memory://",
    web_enabled=False,
    topic_partitions=1,
    topic_replication_factor=1,
)
source = app.topic(os.environ["PROBE_IN"], value_serializer="raw")
sink = app.topic(os.environ["PROBE_OUT"], value_serializer="raw")


@app.agent(source, concurrency=1)
async def shout(stream):
    """Consume each value and produce it upper-cased: one read and one write per event."""
    async for value in stream:
        await sink.send(value=value.upper())


if __name__ == "__main__":
    app.main()
