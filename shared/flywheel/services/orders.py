"""What an order is, read once for every function: a closed-won deal of an order pipeline, dated by its close
date in Rome, worth its amount.

sirank_recalc, cold_segment and nurture_step all read orders from deals; they share this reading so that "an
order" cannot mean three slightly different things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flywheel.domain.models import CrmRecord
from flywheel.services.mapping import parse_date
from flywheel.services.portal import PortalSchema

# the deal properties an order is read from
ORDER_PROPERTIES = ("pipeline", "dealstage", "closedate", "amount")


@dataclass(frozen=True, slots=True)
class Order:
    deal_id: str
    day: date  # the close date, on the Europe/Rome calendar
    amount: Decimal | None  # euro; None when the deal has none (or not a number)

    @property
    def value(self) -> float | None:
        return None if self.amount is None else float(self.amount)

    @property
    def cents(self) -> int:
        """The amount in euro cents, half up; a missing amount counts as 0 toward revenue."""
        if self.amount is None:
            return 0
        return int((self.amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def as_order(record: CrmRecord, schema: PortalSchema, timezone: str) -> Order | None:
    """The deal as an order, or None: not closed-won in an order pipeline, or without a close date."""
    if not schema.is_order(record.prop("pipeline"), record.prop("dealstage")):
        return None
    day = parse_date(record.prop("closedate"), timezone)
    if day is None:
        return None
    return Order(record.id, day, _amount(record.prop("amount")))


def _amount(value: str | None) -> Decimal | None:
    if value is None or value.strip() == "":
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
