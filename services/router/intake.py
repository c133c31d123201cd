"""One batch of raw report messages in, routed reports and dead letters out: no I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas.codec import decode, encode
from schemas.contracts import REPORT
from schemas.deadletter import DeadLetter
from schemas.errors import ContractError, Problem
from schemas.references import check_publisher, check_references
from schemas.registry import Registry
from schemas.reports import AnyReport
from schemas.routing import RoutedReport, RoutingDecision
from services.router.decisions import DecisionCache
from services.router.grouping import Grouping, Release
from services.router.ruleset import RuleSet
from services.router.storm import Collapsed, collapse
from services.runtime.deadletters import RawMessage, dead_letter, failure
from services.runtime.topics import report_source

STAGE = "router"
NO_GROUPING = Grouping(timedelta(0))  # holds nothing: safe to share


@dataclass
class BatchOutcome:
    """What one batch became: every input is in exactly one routed report or dead letter."""

    routed: list[RoutedReport] = field(default_factory=list)
    # routed[i] encoded, appended together: encoding is where a too-large report shows.
    routed_values: list[bytes] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # (topic, partition, offset) of every input the messages above account for: done once
    # they are acknowledged. Inputs held in a window are not here until their update is.
    settled: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def reports_routed(self) -> int:
        return sum(r.count for r in self.routed)

    @property
    def messages(self) -> int:
        """Input messages accounted for: routed (collapsed ones included) or dead-lettered."""
        return self.reports_routed + len(self.dead_letters)


def process_batch(
    messages: Sequence[RawMessage],
    *,
    rules: RuleSet,
    registry: Registry,
    now: datetime,
    topic_prefix: str = "",
    decisions: DecisionCache | None = None,
    grouping: Grouping = NO_GROUPING,
) -> BatchOutcome:
    """Validate, dead-letter, collapse storms, route and group one batch; with the updates of
    the windows that ended by `now` first."""
    decisions = decisions or DecisionCache()
    outcome = BatchOutcome()
    valid: list[AnyReport] = []
    source: dict[int, RawMessage] = {}  # report identity -> the message it came from
    for message in messages:
        try:
            report = admit_message(message, registry=registry, topic_prefix=topic_prefix)
        except ContractError as error:
            outcome.dead_letters.append(dead_letter(message, error, stage=STAGE, now=now))
        except Exception as exc:  # a bug meeting hostile input must cost the message only
            failed = failure(exc, code="invalid_report")
            outcome.dead_letters.append(dead_letter(message, failed, stage=STAGE, now=now))
        else:
            valid.append(report)
            source[id(report)] = message
    releases = grouping.due(now)
    for group in collapse(valid):
        for chunk, sources in grouping.split(group, [source[id(r)] for r in group.reports]):
            try:
                decision = decisions.decide(chunk.representative, rules, registry)
            except Exception as exc:  # a routing bug
                _dead_letters(outcome, sources, failure(exc, code="routing_failed"), now)
                continue
            release = Release.of(chunk, decision, sources)
            releases += grouping.take(release, cleared=chunk.cleared, now=now)
    for release in releases:
        try:
            routed = routed_message(release, now=now)
            value = encode(routed)
        except Exception as exc:  # a report too large once routed, or a bug
            failed = exc if isinstance(exc, ContractError) else failure(exc, code="routing_failed")
            _dead_letters(outcome, release.sources, failed, now)
        else:
            outcome.routed.append(routed)
            outcome.routed_values.append(value)
            outcome.settled += [(m.topic, m.partition, m.offset) for m in release.sources]
    outcome.settled += [(d.source.topic, d.source.partition, d.source.offset)
                        for d in outcome.dead_letters]  # fmt: skip
    return outcome


def _dead_letters(
    outcome: BatchOutcome, sources: Sequence[RawMessage], error: ContractError, now: datetime
) -> None:
    """A letter for each source (a held one kept only its position: its bytes stay in the log)."""
    outcome.dead_letters += [dead_letter(m, error, stage=STAGE, now=now) for m in sources]


def admit_message(message: RawMessage, *, registry: Registry, topic_prefix: str) -> AnyReport:
    """The valid report in a message, stamped with received_at; else a ContractError."""
    if message.value is None:
        raise ContractError("invalid_report", (Problem(field="", reason="message has no value"),))
    report: AnyReport = decode(REPORT, message.value)
    source = report_source(message.topic, topic_prefix)
    if source and report.kind != source.kind:
        reason = f"a {report.kind} report was published to {message.topic}, a {source.kind} topic"
        raise ContractError("invalid_report", (Problem(field="kind", reason=reason),))
    # Only the enterprise itself may write its own topic (the brokers' ACLs see to that), so
    # the topic names the publisher for certain; the gateway checked its publishers' tokens.
    if source and source.publisher is not None:
        problem = check_publisher(report, source.publisher, registry)
        if problem is not None:
            raise ContractError("impersonation", (problem,))
    problems = check_references(report, registry)
    if problems:
        raise ContractError("unknown_reference", problems)
    received_at = datetime.fromtimestamp(message.timestamp_ms / 1000, tz=UTC)
    return report.model_copy(update={"received_at": received_at})


def routed_report(group: Collapsed, decision: RoutingDecision, *, now: datetime) -> RoutedReport:
    """One routed report standing for a whole collapsed group."""
    return routed_message(Release.of(group, decision, ()), now=now)


def routed_message(release: Release, *, now: datetime) -> RoutedReport:
    """The routed report of a release: its representative, decision, references, window."""
    # Every part is a validated model already; validating the whole again would double the
    # cost of the router's hottest line. Consumers decode it with full validation.
    return RoutedReport.model_construct(
        schema_version=1,
        incident_key=release.incident_key,
        report=release.representative,
        decision=release.decision,
        routed_at=now,
        collapsed=release.collapsed,
        count=release.count,
        first_seen=release.first_seen,
        last_seen=release.last_seen,
        window=release.window,
    )
