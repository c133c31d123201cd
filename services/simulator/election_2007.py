"""The election-2007 story for Quảng Nam, 8–21 May 2007: drafts of every report, from a seed.

Background line faults and capacity alarms in all 17 districts; a cable cut that throws a
storm of line-fault alarms in one district; congestion on election night, when peer
operators are asked to share capacity; suspicious parcels at a few post offices; and the
clears that end many alarms. Pure: the same seed gives the same drafts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from schemas.registry import Enterprise, Registry, load_registry
from services.simulator.scenario import Draft, Scenario, build_messages, compress

__all__ = ["ELECTION_NIGHT", "END", "START", "drafts", "scenario"]

LOCAL = timezone(timedelta(hours=7), "ICT")
START = datetime(2007, 5, 8, tzinfo=LOCAL)
END = datetime(2007, 5, 22, tzinfo=LOCAL)
ELECTION_DAYS = (datetime(2007, 5, 19, tzinfo=LOCAL), datetime(2007, 5, 22, tzinfo=LOCAL))
ELECTION_NIGHT = datetime(2007, 5, 20, 19, tzinfo=LOCAL)
HOTLINES = ("HOTLINE-BAUCU-01", "HOTLINE-BAUCU-02", "HOTLINE-BAUCU-03", "HOTLINE-BAUCU-04")
# Busier places fault and congest more: the city, the town and the lowland districts.
DISTRICT_WEIGHT = {"tam-ky": 4, "hoi-an": 3, "dien-ban": 3, "nui-thanh": 2, "thang-binh": 2}
LINE_FAULTS_PER_HOUR = 2.5
CAPACITY_ALARMS_PER_HOUR = 0.6
CAUSES = (
    ("cable_cut", 3),
    ("loss_of_signal", 3),
    ("degraded_signal", 3),
    ("power_problem", 2),
    ("equipment_malfunction", 2),
    ("lightning", 2),
    ("transmission_error", 1),
    ("vandalism", 1),
    ("unknown", 1),
)


def scenario(
    seed: int,
    *,
    speed: float,
    duration: float | None = None,
    start: datetime = START,
    registry: Registry | None = None,
) -> Scenario:
    """The messages of a run: the whole story for `seed`, from `start`, compressed by `speed`."""
    messages = build_messages(drafts(registry or load_registry(), seed), seed)
    return compress(messages, seed=seed, speed=speed, start=start, duration=duration)


def drafts(registry: Registry, seed: int) -> list[Draft]:
    """Every report of the scenario, unordered, without ids."""
    rng = random.Random(f"election-2007:{seed}")
    story = _Story(registry, rng)
    parts = (story.background(), story.cable_cut(), story.election_night(), story.parcels())
    # The story ends with the period; a clear that would come after it is never sent.
    return [draft for part in parts for draft in part if draft.sent_at < END]


class _Story:
    """The pieces of the story, drawing from one seeded random source in a fixed order."""

    def __init__(self, registry: Registry, rng: random.Random) -> None:
        self.rng = rng
        self.districts = [d.id for d in registry.districts]
        self.operators = {d: registry.operators_in(d) for d in self.districts}
        # A loaded registry has one post office for every district (its consistency check).
        self.post_offices = {
            d: office for d in self.districts if (office := registry.post_office_for(d)) is not None
        }

    # --- background -----------------------------------------------------------------------

    def background(self) -> Iterator[Draft]:
        """Faults and alarms all fortnight, busier in the afternoon storms and on election days."""
        for at in self._arrivals(LINE_FAULTS_PER_HOUR):
            yield from self.line_fault(at, self._district(), part="background")
        for at in self._arrivals(CAPACITY_ALARMS_PER_HOUR):
            yield from self.capacity_alarm(at, self._district(), part="background")

    def _arrivals(self, per_hour: float) -> Iterator[datetime]:
        at = START
        while True:
            busy = 1.6 if 13 <= at.hour < 19 else 0.6 if at.hour < 6 else 1.0
            busy *= 1.5 if ELECTION_DAYS[0] <= at < ELECTION_DAYS[1] else 1.0
            at += timedelta(seconds=round(self.rng.expovariate(per_hour * busy / 3600)))
            if at >= END:
                return
            yield at

    def _district(self) -> str:
        weights = [DISTRICT_WEIGHT.get(d, 1) for d in self.districts]
        return self.rng.choices(self.districts, weights)[0]

    def _operator(self, district: str) -> Enterprise:
        operators = self.operators[district]
        # VNPT had most of the fixed lines in 2007; mobile operators had the rest.
        weights = [5 if o.id.startswith("vnpt") else 1 for o in operators]
        return self.rng.choices(operators, weights)[0]

    def line_fault(self, at: datetime, district: str, *, part: str) -> Iterator[Draft]:
        """One line fault, perhaps raised again, perhaps cleared later."""
        operator = self._operator(district)
        election_days = ELECTION_DAYS[0] <= at < ELECTION_DAYS[1]
        if operator.id.startswith("vnpt") and self.rng.random() < 0.01:
            line, service_class = self.rng.choice(HOTLINES), "election_hotline"
        else:
            service_class = self.rng.choices(("subscriber", "trunk", "transmission"), (80, 12, 8))[
                0
            ]
            line = _asset(operator, "lines", district, self.rng.randint(1, 400))
        fields = {
            "operator": operator.id,
            "district": district,
            "alarmed_object.id": line,
            "alarmed_object.service_class": service_class,
            "election_critical": service_class == "election_hotline"
            or (election_days and self.rng.random() < 0.15),
            "perceived_severity": self.rng.choice(("critical", "major", "major", "minor")),
            "probable_cause": self.rng.choices(*zip(*CAUSES, strict=True))[0],
            "description": f"Sự cố đường dây {line}",
        }
        yield self._draft("line_fault", operator, at, part, fields)
        if self.rng.random() < 0.1:
            again = at + timedelta(minutes=self.rng.randint(2, 20))
            yield self._draft("line_fault", operator, again, part, fields)
        if self.rng.random() < 0.35:
            cleared = at + timedelta(minutes=self.rng.randint(20, 360))
            yield self._draft("line_fault", operator, cleared, "clear", _cleared(fields))

    def capacity_alarm(
        self, at: datetime, district: str, *, part: str, operator: Enterprise | None = None
    ) -> Iterator[Draft]:
        """One capacity alarm, cleared later one time in two."""
        operator = operator or self._operator(district)
        if self.rng.random() < 0.5:
            metric, threshold, observed = "call_blocking_percent", 5.0, self.rng.uniform(5.5, 18)
            resource_type = self.rng.choice(("switch", "cell"))
        else:
            metric, threshold, observed = "utilisation_percent", 85.0, self.rng.uniform(86, 99.5)
            resource_type = self.rng.choice(("transmission_link", "trunk_group"))
        resource = _asset(operator, "resources", district, self.rng.randint(1, 6), resource_type)
        fields = {
            "operator": operator.id,
            "district": district,
            "alarmed_object.id": resource,
            "alarmed_object.type": resource_type,
            "metric": metric,
            "threshold": threshold,
            "observed_value": round(observed, 1),
            "perceived_severity": "critical" if observed > threshold * 1.12 + 5 else "major",
            "description": f"Vượt ngưỡng {metric} trên {resource}",
        }
        yield self._draft("capacity_alarm", operator, at, part, fields)
        if self.rng.random() < 0.5:
            cleared = at + timedelta(minutes=self.rng.randint(15, 120))
            yield self._draft("capacity_alarm", operator, cleared, "clear", _cleared(fields))

    # --- the cable cut ----------------------------------------------------------------------

    def cable_cut(self) -> Iterator[Draft]:
        """Road works cut VNPT's cable in one district on the election eve: a storm of alarms."""
        district = self.rng.choice([d for d in self.districts if d not in DISTRICT_WEIGHT])
        vnpt = next(o for o in self.operators[district] if o.id.startswith("vnpt"))
        cut_at = datetime(2007, 5, 19, 14, tzinfo=LOCAL) + timedelta(
            minutes=self.rng.randint(0, 120)
        )
        repaired_at = cut_at + timedelta(minutes=self.rng.randint(150, 300))
        lines = [("transmission", 1), ("trunk", 1), ("trunk", 2)]
        lines += [("subscriber", n) for n in self.rng.sample(range(1, 400), 90)]
        for service_class, number in lines:
            raised = cut_at + timedelta(seconds=self.rng.randint(0, 90))
            line = _asset(vnpt, "lines", district, number, service_class[:5].upper())
            fields = {
                "operator": vnpt.id,
                "district": district,
                "alarmed_object.id": line,
                "alarmed_object.service_class": service_class,
                "election_critical": service_class != "subscriber",
                "perceived_severity": "critical" if service_class != "subscriber" else "major",
                "probable_cause": "cable_cut",
                "description": f"Đứt cáp quang tuyến {district}: thi công đường làm đứt cáp.",
            }
            yield self._draft("line_fault", vnpt, raised, "storm", fields)
            # Network managers raise the same alarm again while the line stays down.
            for repeat in range(self.rng.randint(0, 2)):
                again = raised + timedelta(minutes=5 * (repeat + 1))
                yield self._draft("line_fault", vnpt, again, "storm", fields)
            back = repaired_at + timedelta(seconds=self.rng.randint(0, 600))
            yield self._draft("line_fault", vnpt, back, "clear", _cleared(fields))

    # --- election night ---------------------------------------------------------------------

    def election_night(self) -> Iterator[Draft]:
        """Polls close and results are phoned in: busy districts congest, operator by operator."""
        busy = [d for d in self.districts if len(self.operators[d]) >= 3]
        for district in busy:
            for operator in self.operators[district]:
                at = ELECTION_NIGHT + timedelta(minutes=self.rng.randint(0, 90))
                for _ in range(self.rng.randint(2, 4)):
                    yield from self.capacity_alarm(
                        at, district, part="congestion", operator=operator
                    )
                    at += timedelta(minutes=self.rng.randint(10, 40))

    # --- suspicious parcels -----------------------------------------------------------------

    def parcels(self) -> Iterator[Draft]:
        """A handful of suspicious items at district post offices in the week before the vote."""
        offices = self.rng.sample(self.districts, 5)
        for number, district in enumerate(offices, start=1):
            office = self.post_offices[district]
            at = datetime(2007, 5, 14, 8, tzinfo=LOCAL) + timedelta(
                minutes=self.rng.randint(0, 6 * 24 * 60)
            )
            indicators = self.rng.sample(
                ["no_sender", "damaged_packaging", "addressed_to_election_body",
                 "election_material", "forged_documents", "unusual_weight_or_shape"],
                self.rng.randint(1, 3),
            )  # fmt: skip
            if number == 1:
                indicators.append("threatening_content")
            fields = {
                "post_office": office.id,
                "district": district,
                "item.id": f"EE{self.rng.randint(10**8, 10**9 - 1)}VN",
                "item.type": self.rng.choice(("letter", "parcel", "urgent_mail", "express_mail")),
                "description": "Bưu gửi có dấu hiệu ảnh hưởng đến cuộc bầu cử.",
                "indicators": indicators,
                "custody_status": "held_at_post_office",
                "election_related": "addressed_to_election_body" in indicators
                or "election_material" in indicators,
            }
            yield self._draft("suspicious_parcel", office, at, "parcel", fields)

    # --- helpers ----------------------------------------------------------------------------

    def _draft(
        self, kind: str, source: Enterprise, at: datetime, part: str, fields: dict[str, Any]
    ) -> Draft:
        """The report as its source's system sends it, a few seconds (or minutes) after."""
        delay = self.rng.choice((2, 5, 10, 20, 45)) if self.rng.random() < 0.95 else 600
        sent_at = at + timedelta(seconds=delay)
        times = {
            "reported_by": source.id,
            "occurred_at": at.isoformat(),
            "reported_at": sent_at.isoformat(),
        }
        return Draft(kind=kind, sent_at=sent_at, part=part, fields=fields | times)


def _cleared(fields: dict[str, Any]) -> dict[str, Any]:
    return fields | {"perceived_severity": "cleared", "description": "Cảnh báo đã hết."}


def _asset(operator: Enterprise, what: str, district: str, number: int, tag: str = "") -> str:
    """An id the operator's prefix marks as its own, so the router finds the owner."""
    ownership = getattr(operator.owns, what)
    prefix = ownership.prefixes[0] if ownership.prefixes else f"{operator.id.upper()}-"
    tag = f"{tag.upper().replace('_', '')[:6]}-" if tag else ""
    return f"{prefix}{district.upper()}-{tag}{number:04d}"
