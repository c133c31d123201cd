"""Notifier latency and rate: task issued -> webhook delivered, beside bare httpx POSTs.

Synthetic IncidentRouted events (one task each, its person on duty with one webhook) are
written straight to incidents.events on a private prefix while the notifier runs; a local
HTTP receiver (stdlib, in a thread of this process) notes when each POST arrives. Latency
counts from the moment the event was written (its occurred_at, set as it is sent) to the
arrival. First a burst (rate and latency under load), then events one every 20 ms (latency
at light load). The raw baseline sends the same bodies and headers to the same receiver
from a bare httpx client, as many at once as the notifier may (its concurrency).

    .venv/bin/python -m benchmarks.bench_notifier [--events 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.results import Figure, add_arguments, percentiles, report
from infra import stack
from infra.settings import StackSettings
from services.notifier import Notifier, NotifierSettings
from services.notifier.service import build
from services.runtime.kafka import admin_client, make_producer
from services.runtime.logging import configure_logging
from services.runtime.settings import load_settings
from services.runtime.topic_admin import apply_catalog
from services.runtime.topics import INCIDENT_EVENTS, topic_name
from tests.support.notifier_receivers import HttpReceiver, http_receiver
from tests.support.notifier_samples import as_record, person, registry_with_roster, routed, webhook

PEOPLE = 20
PACE_S = 0.02


async def send_events(settings: NotifierSettings, first: int, count: int, pace_s: float) -> None:
    """Write `count` routed events (incidents first, first+1, ...), each stamped as it is sent."""
    producer = make_producer(settings)
    await producer.start()
    topic = topic_name(INCIDENT_EVENTS, settings.topic_prefix)
    try:
        sends = []
        for n in range(first, first + count):
            key, value = as_record(routed(n, datetime.now(UTC), f"p{n % PEOPLE}", priority="p1"))
            sends.append(await producer.send(topic, value, key=key))
            if pace_s:
                await asyncio.sleep(pace_s)
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def delivered(receiver: HttpReceiver, count: int, deadline_s: float = 300) -> None:
    """Until the receiver got `count` POSTs."""
    ends = time.monotonic() + deadline_s
    while len(receiver.arrivals) < count:
        if time.monotonic() > ends:
            raise RuntimeError(f"{len(receiver.arrivals)} of {count} webhooks arrived")
        await asyncio.sleep(0.01)


async def joined(notifier: Notifier, deadline_s: float = 60) -> None:
    """Until the notifier has its partitions: the timer leaves out joining the group."""
    ends = time.monotonic() + deadline_s
    while not notifier.consumer.assignment():
        if time.monotonic() > ends:
            raise RuntimeError("the notifier was given no partitions")
        await asyncio.sleep(0.05)


def latencies_ms(receiver: HttpReceiver, since: int) -> list[float]:
    """From each event's writing (occurred_at in the body) to its webhook's arrival."""
    return [
        (a.at - datetime.fromisoformat(json.loads(a.body)["occurred_at"]).timestamp()) * 1000
        for a in receiver.arrivals[since:]
    ]


async def raw_posts(receiver: HttpReceiver, concurrency: int) -> float:
    """The notifier's requests sent again by bare httpx, `concurrency` at once; POSTs/s."""
    requests = list(receiver.arrivals)
    slots = asyncio.Semaphore(concurrency)
    keep = ("Content-Type", "X-SignalPost-Signature", "X-SignalPost-Timestamp", "Idempotency-Key")

    async with httpx.AsyncClient(timeout=10) as client:

        async def post(arrival) -> None:
            async with slots:
                headers = {k: arrival.headers[k] for k in keep}
                answer = await client.post(receiver.url + arrival.path, content=arrival.body,
                                           headers=headers)  # fmt: skip
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(a) for a in requests))
        return len(requests) / (time.perf_counter() - started)


async def main(events: int, paced: int) -> list[Figure]:
    """Run the notifier on a private prefix against a local receiver; then the baseline."""
    base = load_settings(StackSettings)
    await stack.start_components(base, lambda m: print(f"# {m}", file=sys.stderr))
    configure_logging(base.model_copy(update={"log_level": "WARNING"}))
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    with tempfile.TemporaryDirectory() as scratch, http_receiver() as receiver:
        people = [person(f"p{i}", webhook(f"{receiver.url}/hooks/p{i}")) for i in range(PEOPLE)]
        settings = NotifierSettings.model_validate(
            base.model_dump()
            | {"topic_prefix": prefix, "notifier_registry_dir": registry_with_roster(
                Path(scratch), *people)}
        )  # fmt: skip
        async with admin_client(settings) as admin:
            await apply_catalog(admin=admin, prefix=prefix)
        stop = asyncio.Event()
        notifier = build(settings)
        task = asyncio.create_task(notifier.run(stop))
        try:
            await joined(notifier)
            started = time.perf_counter()
            await send_events(settings, 0, events, pace_s=0)
            await delivered(receiver, events)
            burst_rate = events / (time.perf_counter() - started)
            burst = latencies_ms(receiver, 0)
            await send_events(settings, events, paced, pace_s=PACE_S)
            await delivered(receiver, events + paced)
            light = latencies_ms(receiver, events)
        finally:
            stop.set()
            await task
            await stack.delete_topics(settings)
        raw_rate = await raw_posts(receiver, settings.notifier_concurrency)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# {events:,} routed events at once, then {paced:,} one every {PACE_S * 1000:g} "
          f"ms; {PEOPLE} people, one webhook each; the receiver: a stdlib HTTP server in a "
          "thread of this process")  # fmt: skip
    raw = {"baseline": "bare httpx POSTs", "baseline_rate": raw_rate}
    return [
        Figure("notifier", f"task → webhook, burst of {events:,}", burst_rate, "deliveries/s",
               peak_rss_mib=peak_mib, **percentiles(burst), **raw),
        Figure("notifier", f"task → webhook, 1 per {PACE_S * 1000:g} ms", None, "deliveries/s",
               peak_rss_mib=peak_mib, **percentiles(light)),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="default 2,000 (quick 200)")
    parser.add_argument("--paced", type=int, default=None, help="default 200 (quick 50)")
    add_arguments(parser)
    args = parser.parse_args()
    events = args.events or (200 if args.quick else 2_000)
    paced = args.paced or (50 if args.quick else 200)
    report(asyncio.run(main(events, paced)), args)
