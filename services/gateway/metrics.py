"""The gateway's Prometheus metrics, in a registry of its own (one per app: tests make many)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    """Counters and timings an operator watches."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "signalpost_gateway_requests_total",
            "HTTP requests answered, by route and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "signalpost_gateway_request_seconds",
            "Time to answer an HTTP request (a stream: time to its first byte).",
            ("method", "route"),
            registry=self.registry,
        )
        self.reports = Counter(
            "signalpost_gateway_reports_total",
            "Reports published: accepted, repeated (idempotent retry), refused.",
            ("kind", "outcome"),
            registry=self.registry,
        )
        self.commands = Counter(
            "signalpost_gateway_commands_total",
            "Dispatcher commands by action and outcome (accepted, rejected, pending).",
            ("action", "outcome"),
            registry=self.registry,
        )
        self.flushed = Histogram(
            "signalpost_gateway_flush_reports",
            "Reports per flush: the rows written and the sends acknowledged together (a batch,"
            " or the single publishes that arrived while the previous flushes were out).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=self.registry,
        )
        self.publishing = Gauge(
            "signalpost_gateway_publishes_in_flight",
            "Publishes holding a slot (and a PostgreSQL connection) while Kafka takes the report.",
            registry=self.registry,
        )
        self.streams = Gauge(
            "signalpost_gateway_task_streams",
            "Task streams (server-sent events) open now.",
            registry=self.registry,
        )
