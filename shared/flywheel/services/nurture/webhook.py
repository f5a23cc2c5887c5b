"""The order webhook: an order ends its company's running sequence at once, so no step goes out after it.

It writes through the same `save` as the daily run, so the two may race without resurrecting an ended sequence.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flywheel.domain import nurture as rules_of
from flywheel.domain.models import ExecutionReport, RunResult, UpdateCompany
from flywheel.domain.nurture import Conversion, Enrolment
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.mapping import DEAL_PROPERTIES
from flywheel.services.nurture.conversions import as_conversion
from flywheel.services.nurture.names import FUNCTION, KIND
from flywheel.services.nurture.records import from_record, save
from flywheel.webhooks import object_ids


def webhook(events: list[dict[str, Any]], ports: Ports) -> RunResult:
    """Orders ending running sequences, at once. Events only name deals: the deal is read again from HubSpot
    (the event may be stale, or not about an order at all) and checked with the portal schema."""
    as_of = ports.clock.today()
    deal_ids = object_ids(events)
    summary: dict[str, Any] = {"events": len(events), "orders": 0, "converted": 0}
    if not deal_ids:
        return RunResult(function=FUNCTION, as_of=as_of, dry_run=False, actions=[], summary=summary)
    records = ports.crm.read_batch("deals", deal_ids, DEAL_PROPERTIES)
    linked = ports.crm.associated_ids("deals", "companies", [r.id for r in records])
    orders = [o for o in (as_conversion(ports, r, ports.settings.timezone) for r in records) if o is not None]
    summary["orders"] = len(orders)
    updates: dict[str, dict[str, str]] = {}
    # oldest first: when several orders arrive together, the first one is the conversion
    for order in sorted(orders, key=lambda o: (o.order_date, o.order_id or "")):
        for company_id in linked.get(order.order_id or "", []):
            for ended in _convert_sequences(ports, company_id, order, as_of):
                summary["converted"] += 1
                updates[company_id] = {
                    ports.settings.portal.nurture_step: str(ended.step),
                    ports.settings.portal.nurture_status: "converted",
                }
    actions = [UpdateCompany(company_id=c, properties=p) for c, p in updates.items()]
    report = EffectExecutor(ports).execute(actions) if actions else ExecutionReport()
    return RunResult(function=FUNCTION, as_of=as_of, dry_run=False, actions=actions, summary=summary, report=report)


def _convert_sequences(ports: Ports, company_id: str, order: Conversion, as_of: date) -> list[Enrolment]:
    """The company's sequences this order converted; one ended otherwise meanwhile (by a run, or an earlier
    order) keeps that ending and is not counted."""
    converted = []
    for stored in ports.state.sequences_of_company(KIND, company_id):
        enrolment = from_record(stored)
        if not rules_of.is_converting_order(enrolment, order.order_date):
            continue
        ended = save(ports, rules_of.convert(enrolment, order, as_of))
        if ended.status == "converted" and ended.conversion == order:
            converted.append(ended)
    return converted
