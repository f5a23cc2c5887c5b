"""The stored sequence: an `Enrolment` as the state store's record and back, and the one way to write it.

Both the daily run and the order webhook write sequences; `save` merges with what is stored and writes with
compare-and-set, so neither can turn a sequence the other ended back into an active one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, cast

from flywheel.domain import nurture as rules_of
from flywheel.domain.nurture import Conversion, Enrolment, Send, Status
from flywheel.ports import SequenceRecord, StaleSequence
from flywheel.services.context import Ports
from flywheel.services.nurture.names import KIND


def to_record(enrolment: Enrolment) -> SequenceRecord:
    data: dict[str, Any] = {
        "spell": enrolment.spell.isoformat(),
        "enrolled_on": enrolment.enrolled_on.isoformat(),
        "sends": [
            {"step": s.step, "sent_on": s.sent_on.isoformat(), "messages": dict(s.messages)} for s in enrolment.sends
        ],
        "coupon_code": enrolment.coupon_code,
        "coupon_expiry": _iso(enrolment.coupon_expiry),
        "ended_on": _iso(enrolment.ended_on),
        "conversion": None
        if enrolment.conversion is None
        else {
            "order_date": enrolment.conversion.order_date.isoformat(),
            "order_value": enrolment.conversion.order_value,
            "order_id": enrolment.conversion.order_id,
        },
    }
    return SequenceRecord(
        kind=KIND,
        id=enrolment.id,
        company_id=enrolment.company_id,
        status=enrolment.status,
        step=enrolment.step,
        next_due=enrolment.next_due,
        data=data,
    )


def from_record(record: SequenceRecord) -> Enrolment:
    data = record.data
    conversion = data.get("conversion")
    status = cast(Status, record.status if record.status in rules_of.STATUSES else "active")
    return Enrolment(
        company_id=record.company_id,
        spell=_date(data["spell"]),
        enrolled_on=_date(data["enrolled_on"]),
        status=status,
        step=record.step,
        next_due=record.next_due,
        sends=tuple(
            Send(
                step=int(s["step"]),
                sent_on=_date(s["sent_on"]),
                messages=tuple(sorted((str(k), str(v)) for k, v in (s.get("messages") or {}).items())),
            )
            for s in data.get("sends") or []
        ),
        coupon_code=data.get("coupon_code"),
        coupon_expiry=_optional_date(data.get("coupon_expiry")),
        ended_on=_optional_date(data.get("ended_on")),
        conversion=None
        if not conversion
        else Conversion(
            order_date=_date(conversion["order_date"]),
            order_value=conversion.get("order_value"),
            order_id=conversion.get("order_id"),
        ),
    )


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _optional_date(value: Any) -> date | None:
    return None if value is None or value == "" else _date(value)


def merge(current: Enrolment | None, ours: Enrolment) -> Enrolment:
    """What to store when `ours` was derived from an earlier read and `current` is what is stored now.

    An ended sequence stays ended (first ending wins), but a step we really sent is still recorded in its
    history; between two active versions the further one wins.
    """
    if current is None:
        return ours
    if current.is_active:
        return ours if ours.step >= current.step else current
    if ours.step > current.step:
        return replace(current, step=ours.step, sends=ours.sends, coupon_code=ours.coupon_code or current.coupon_code)
    return current


def save(ports: Ports, enrolment: Enrolment) -> Enrolment:
    """Merge into what is stored and write it with compare-and-set: if another writer (the order webhook, a
    concurrent run) stored a version since our read, read again and merge with that one."""
    while True:
        stored = ports.state.get_sequence(KIND, enrolment.id)
        merged = merge(None if stored is None else from_record(stored), enrolment)
        record = to_record(merged)
        if stored is not None and replace(record, version=stored.version) == stored:
            return merged
        try:
            ports.state.put_sequence(record, expected_version=0 if stored is None else stored.version)
            return merged
        except StaleSequence:
            continue
