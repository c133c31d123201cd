"""Who may do what on Kafka: the principal of each service and each enterprise, and the
least-privilege ACLs that go with it (no I/O here; `users` applies them to the brokers).

An enterprise may write only its own report topics and read only its own task feed,
through consumer groups named after it. A service gets exactly the topics and groups it
uses. The administrator (a super user) is for setting up, never for running.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.kafka.security_admin import Acl, principal
from schemas.kinds import TOPIC_OF_KIND
from services.runtime.topics import (
    DEAD_LETTERS,
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    NOTIFICATION_ATTEMPTS,
    NOTIFICATION_DEAD_LETTERS,
    REPORTS_PREFIX,
    ROSTER_ACTIVATIONS,
    ROUTED_REPORTS,
    RULESET_ACTIVATIONS,
    TASK_FEED_PREFIX,
    enterprise_report_topic,
    task_feed,
)

SERVICES = ("router", "incidents", "recorder", "gateway", "auditor", "notifier")
SERVICE_USER_PREFIX = "signalpost-"


@dataclass(frozen=True)
class Groups:
    """The consumer groups the services join, as their settings name them."""

    router: str
    recorder: str
    incidents: str  # the faust app's name: its group, and the prefix of its own topics
    notifier: str


def service_user(service: str, prefix: str = "") -> str:
    """The Kafka user a service runs as, under a topic prefix."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return f"{prefix}{SERVICE_USER_PREFIX}{service}"


def enterprise_user(enterprise_id: str, prefix: str = "") -> str:
    """The Kafka user an enterprise publishes and reads its tasks as."""
    return f"{prefix}{enterprise_id}"


def enterprise_group_prefix(enterprise_id: str, prefix: str = "") -> str:
    """Consumer groups an enterprise may use start with this."""
    return f"{prefix}{enterprise_id}."


def enterprise_acls(enterprise_id: str, prefix: str = "") -> list[Acl]:
    """Write its own report topics; read its own task feed, in groups of its own."""
    who = principal(enterprise_user(enterprise_id, prefix))
    own_reports = [
        Acl(who, "topic", prefix + enterprise_report_topic(enterprise_id, kind), "literal", op)
        for kind in TOPIC_OF_KIND
        for op in ("write", "describe")
    ]
    feed = prefix + task_feed(enterprise_id)
    return [
        *own_reports,
        Acl(who, "topic", feed, "literal", "read"),
        Acl(who, "topic", feed, "literal", "describe"),
        Acl(who, "group", enterprise_group_prefix(enterprise_id, prefix), "prefixed", "read"),
    ]


def service_acls(service: str, groups: Groups, prefix: str = "") -> list[Acl]:
    """Exactly the topics and groups `service` uses."""
    who = principal(service_user(service, prefix))
    reads, writes, grants = _SERVICE_TOPICS[service](groups, prefix)
    acls = [
        Acl(who, "topic", name, pattern, op)
        for (name, pattern) in reads
        for op in ("read", "describe")
    ]
    acls += [
        Acl(who, "topic", name, pattern, op)
        for (name, pattern) in writes
        for op in ("write", "describe")
    ]
    acls += [Acl(who, resource, name, pattern, op) for (resource, name, pattern, op) in grants]
    return sorted(set(acls))


Topic = tuple[str, str]  # name, pattern
Grant = tuple[str, str, str, str]  # resource, name, pattern, operation
Uses = tuple[list[Topic], list[Topic], list[Grant]]  # reads, writes, other grants


def _literal(prefix: str, *names: str) -> list[Topic]:
    return [(prefix + name, "literal") for name in names]


def _router(groups: Groups, p: str) -> Uses:
    # Every report topic, the gateway's and each enterprise's, found by pattern: enterprises
    # onboarded later are read without a new grant. `reports.` also holds the router's own
    # outputs (routed, dead letters), which it may thus read as well.
    reads = [(p + REPORTS_PREFIX, "prefixed")]
    writes = _literal(p, ROUTED_REPORTS, DEAD_LETTERS, RULESET_ACTIVATIONS)
    return reads, writes, [("group", groups.router, "literal", "read")]


def _incidents(groups: Groups, p: str) -> Uses:
    reads = _literal(
        p, ROUTED_REPORTS, INCIDENT_COMMANDS, INCIDENT_TICKS, INCIDENT_EVENTS, ROSTER_ACTIVATIONS
    )
    writes = [
        *_literal(p, INCIDENT_EVENTS, INCIDENT_TICKS, ROSTER_ACTIVATIONS),
        (p + TASK_FEED_PREFIX, "prefixed"),
    ]
    # faust's own topics (the table's changelog, the assignor's) are named after the app
    # and created by the worker itself on start.
    own = groups.incidents + "-"
    faust_topics: list[Grant] = [
        ("topic", own, "prefixed", op) for op in ("read", "write", "create", "describe")
    ]
    return reads, writes, [*faust_topics, ("group", groups.incidents, "literal", "read")]


def _recorder(groups: Groups, p: str) -> Uses:
    reads = _literal(p, INCIDENT_EVENTS, DEAD_LETTERS, RULESET_ACTIVATIONS, NOTIFICATION_ATTEMPTS)
    return reads, [], [("group", groups.recorder, "literal", "read")]


def _gateway(groups: Groups, p: str) -> Uses:
    # It publishes on the shared report topics only after checking the publisher's token,
    # and serves every enterprise's dispatchers their feed (no group: it commits nothing).
    writes = _literal(p, *TOPIC_OF_KIND.values(), INCIDENT_COMMANDS)
    reads = [*_literal(p, INCIDENT_EVENTS), (p + TASK_FEED_PREFIX, "prefixed")]
    return reads, writes, []


def _notifier(groups: Groups, p: str) -> Uses:
    # Reads the lifecycle events that name people, and the rosters that say how to reach
    # them; writes what became of telling them.
    reads = _literal(p, INCIDENT_EVENTS, ROSTER_ACTIVATIONS)
    writes = _literal(p, NOTIFICATION_ATTEMPTS, NOTIFICATION_DEAD_LETTERS)
    return reads, writes, [("group", groups.notifier, "literal", "read")]


def _auditor(groups: Groups, p: str) -> Uses:
    # Reads the whole history, writes nothing, commits nothing.
    reads = [
        (p + REPORTS_PREFIX, "prefixed"),
        (p + TASK_FEED_PREFIX, "prefixed"),
        *_literal(p, INCIDENT_COMMANDS, INCIDENT_EVENTS, INCIDENT_TICKS, RULESET_ACTIVATIONS),
        *_literal(p, ROSTER_ACTIVATIONS, NOTIFICATION_ATTEMPTS),
    ]
    return reads, [], []


_SERVICE_TOPICS = {
    "router": _router,
    "incidents": _incidents,
    "recorder": _recorder,
    "gateway": _gateway,
    "auditor": _auditor,
    "notifier": _notifier,
}
