"""Orders as conversions: an order ends a sequence, and a run must see one before it sends another email.

Shared by the daily run (which checks the companies it is about to email) and the order webhook (which is told
about a deal and ends the sequence at once); both read orders the way the rest of Flywheel does
(`flywheel.services.orders`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from flywheel.domain import nurture as rules_of
from flywheel.domain.models import CrmRecord
from flywheel.domain.nurture import Conversion
from flywheel.services.context import Ports
from flywheel.services.mapping import DEAL_PROPERTIES
from flywheel.services.nurture.plan import DailyRun, Plan
from flywheel.services.orders import as_order
from flywheel.services.reads import associated_records


def find_conversions(daily: DailyRun, plans: Sequence[Plan]) -> None:
    """An order ends the sequence. `last_purchase_date` is refreshed daily by sirank_recalc; a company about
    to receive an email also has its order deals read, so a purchase made since is never answered by a
    'we miss you'."""
    orders = orders_after(daily.ports, _orders_wanted_since(daily, plans))
    for plan in plans:
        spell = plan.enrolment.spell
        found = next((o for o in orders.get(plan.enrolment.company_id, []) if o.order_date > spell), None)
        if found is not None:
            plan.conversion = found
        elif plan.company is not None and rules_of.is_converting_order(plan.enrolment, plan.company.last_purchase_date):
            assert plan.company.last_purchase_date is not None
            plan.conversion = Conversion(order_date=plan.company.last_purchase_date)


def _orders_wanted_since(daily: DailyRun, plans: Sequence[Plan]) -> dict[str, date]:
    """The companies whose order deals are worth a read (about to be emailed, or showing a newer last order),
    each with the day from which to read."""
    about_to_send = [p for p in plans if rules_of.step_due(p.enrolment, daily.as_of) is not None]
    newer_order = [
        p
        for p in plans
        if p.company is not None and rules_of.is_converting_order(p.enrolment, p.company.last_purchase_date)
    ]
    # a company may hold two spells on one run (the old one ending, the new one enrolling): read from the older
    since: dict[str, date] = {}
    for p in [*about_to_send, *newer_order]:
        company_id = p.enrolment.company_id
        since[company_id] = min(p.enrolment.spell, since.get(company_id, p.enrolment.spell))
    return since


def orders_after(ports: Ports, since: Mapping[str, date]) -> dict[str, list[Conversion]]:
    """For each company, its orders (closed-won deals in an order pipeline) dated after `since`, oldest first."""
    if not since:
        return {}
    deals = associated_records(ports, "companies", "deals", since, DEAL_PROPERTIES)
    timezone = ports.settings.timezone
    found: dict[str, list[Conversion]] = {}
    for company_id, records in deals.items():
        orders = [as_conversion(ports, record, timezone) for record in records]
        after = [o for o in orders if o is not None and o.order_date > since[company_id]]
        found[company_id] = sorted(after, key=lambda o: (o.order_date, o.order_id or ""))
    return found


def as_conversion(ports: Ports, record: CrmRecord, timezone: str) -> Conversion | None:
    """The deal as the order that ends a sequence (the shared reading of orders), or None."""
    order = as_order(record, ports.schema, timezone)
    return None if order is None else Conversion(order_date=order.day, order_value=order.value, order_id=order.deal_id)
