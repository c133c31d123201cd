"""The three incident reports publishers send, one union discriminated on `kind`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, Strict, StrictBool, field_validator, model_validator
from pydantic_core import PydanticCustomError

from schemas.envelope import Identifier, InboundModel, LongText, Reason, ReportEnvelope, Slug

__all__ = [
    "PERCENT_METRICS",
    "AnyReport",
    "CapacityAlarm",
    "CapacityMetric",
    "CapacityResource",
    "CustodyStatus",
    "Indicator",
    "ItemType",
    "LineFault",
    "LineObject",
    "PerceivedSeverity",
    "PostalItem",
    "ProbableCause",
    "Report",
    "ReportKind",
    "ResourceType",
    "ServiceClass",
    "SuspiciousParcel",
]


class ReportKind(StrEnum):
    """The three kinds of incident report."""

    LINE_FAULT = "line_fault"
    CAPACITY_ALARM = "capacity_alarm"
    SUSPICIOUS_PARCEL = "suspicious_parcel"


class PerceivedSeverity(StrEnum):
    """X.733 perceived severity; `cleared` says the alarm is over."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    CLEARED = "cleared"


class ServiceClass(StrEnum):
    """What the faulty line carries."""

    SUBSCRIBER = "subscriber"
    TRUNK = "trunk"
    TRANSMISSION = "transmission"
    ELECTION_HOTLINE = "election_hotline"


class ProbableCause(StrEnum):
    """X.733 / M.3100 probable causes that occur on lines and links, in snake case."""

    CABLE_CUT = "cable_cut"
    LOSS_OF_SIGNAL = "loss_of_signal"
    DEGRADED_SIGNAL = "degraded_signal"
    TRANSMISSION_ERROR = "transmission_error"
    POWER_PROBLEM = "power_problem"
    EQUIPMENT_MALFUNCTION = "equipment_malfunction"
    LIGHTNING = "lightning"
    FLOODING = "flooding"
    VANDALISM = "vandalism"
    UNKNOWN = "unknown"


class ResourceType(StrEnum):
    """Where a capacity threshold was crossed."""

    TRANSMISSION_LINK = "transmission_link"
    SWITCH = "switch"
    TRUNK_GROUP = "trunk_group"
    CELL = "cell"


class CapacityMetric(StrEnum):
    """What was measured against the threshold."""

    UTILISATION_PERCENT = "utilisation_percent"
    CALL_BLOCKING_PERCENT = "call_blocking_percent"
    CALL_SETUP_FAILURE_PERCENT = "call_setup_failure_percent"
    PACKET_LOSS_PERCENT = "packet_loss_percent"
    BUSY_HOUR_CALL_ATTEMPTS = "busy_hour_call_attempts"


# Strict: a publisher sending "5" or "yes" has a bug worth seeing, not one to paper over.
Measure = Annotated[float, Strict()]
PERCENT_METRICS = frozenset(m for m in CapacityMetric if m.value.endswith("_percent"))


class ItemType(StrEnum):
    """Class of a postal item."""

    LETTER = "letter"
    PARCEL = "parcel"
    URGENT_MAIL = "urgent_mail"
    EXPRESS_MAIL = "express_mail"


class Indicator(StrEnum):
    """Signs that made a postal worker suspect an item could affect the election."""

    NO_SENDER = "no_sender"
    DAMAGED_PACKAGING = "damaged_packaging"
    ADDRESSED_TO_ELECTION_BODY = "addressed_to_election_body"
    ELECTION_MATERIAL = "election_material"
    FORGED_DOCUMENTS = "forged_documents"
    THREATENING_CONTENT = "threatening_content"
    UNUSUAL_WEIGHT_OR_SHAPE = "unusual_weight_or_shape"
    LEAK_OR_ODOUR = "leak_or_odour"
    OTHER = "other"


class CustodyStatus(StrEnum):
    """Where the suspicious item is now."""

    HELD_AT_POST_OFFICE = "held_at_post_office"
    IN_TRANSIT = "in_transit"
    HANDED_TO_AUTHORITIES = "handed_to_authorities"
    DELIVERED = "delivered"
    UNKNOWN = "unknown"


class LineObject(InboundModel):
    """The alarmed object of a line fault: a line, circuit or link (TMF642 alarmedObject)."""

    id: Identifier = Field(description="Line or circuit id as the operator knows it.")
    service_class: ServiceClass


class CapacityResource(InboundModel):
    """The alarmed object of a capacity alarm: a link, switch, trunk group or cell."""

    id: Identifier = Field(description="Resource id as the operator knows it.")
    type: ResourceType


class PostalItem(InboundModel):
    """The postal item a suspicious-parcel report is about."""

    id: Identifier = Field(description="Item or barcode number.")
    type: ItemType


class LineFault(ReportEnvelope):
    """A subscriber line, trunk, circuit or transmission link is down or degraded."""

    kind: Literal["line_fault"]
    operator: Slug = Field(description="Registry id of the telecom operator of the line.")
    district: Slug = Field(description="Registry id of the district where the line is.")
    alarmed_object: LineObject
    election_critical: StrictBool = Field(description="The line serves the election.")
    perceived_severity: PerceivedSeverity
    probable_cause: ProbableCause
    description: LongText = ""


class CapacityAlarm(ReportEnvelope):
    """Congestion, or a capacity threshold crossed on a link, switch, trunk group or cell."""

    kind: Literal["capacity_alarm"]
    operator: Slug = Field(description="Registry id of the operator of the resource.")
    district: Slug = Field(description="Registry id of the district where the resource is.")
    alarmed_object: CapacityResource
    metric: CapacityMetric
    threshold: Measure = Field(
        ge=0, description="Threshold that was crossed, in the metric's unit."
    )
    observed_value: Measure = Field(ge=0, description="Value measured, in the metric's unit.")
    perceived_severity: PerceivedSeverity
    description: LongText = ""

    @model_validator(mode="after")
    def _percentages_within_100(self) -> CapacityAlarm:
        if self.metric not in PERCENT_METRICS:
            return self
        for name in ("threshold", "observed_value"):
            if getattr(self, name) > 100:
                raise PydanticCustomError(
                    "percent_range",
                    "{metric} is a percentage, so {name} must be at most 100",
                    {"field": name, "name": name, "metric": self.metric.value},
                )
        return self


class SuspiciousParcel(ReportEnvelope):
    """A postal item shows signs that it could affect the election."""

    kind: Literal["suspicious_parcel"]
    post_office: Slug = Field(description="Registry id of the post office holding the item.")
    district: Slug = Field(description="Registry id of the district of that post office.")
    item: PostalItem
    description: Reason = Field(description="What was seen, in words.")
    indicators: tuple[Indicator, ...] = Field(min_length=1, description="Signs seen, no repeats.")
    custody_status: CustodyStatus
    election_related: StrictBool = Field(description="The item appears to concern the election.")

    @field_validator("indicators")
    @classmethod
    def _no_repeats(cls, indicators: tuple[Indicator, ...]) -> tuple[Indicator, ...]:
        if len(set(indicators)) != len(indicators):
            raise ValueError("each indicator may appear once")
        return indicators


AnyReport = LineFault | CapacityAlarm | SuspiciousParcel
Report = Annotated[AnyReport, Field(discriminator="kind")]
