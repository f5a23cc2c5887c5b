"""`cashback_21st`: the month-end cashback reminder and the nudge toward the cashback threshold.

A run does one or both modes (`mode` absent: both, the reminder only on the reminder day):
- reminder: on the 21st (or any day with `force`), one search for the companies with `cashback_available` > 0;
- threshold: one search for the orders closed this month (closedate from the 1st, Rome midnight, to the end of
  as_of; order pipelines and won stages), partitioned by the adapter under the 10,000-result cap; each order's
  company from SiRank's deal index in the state store (one associations read per 100 orders it does not know
  yet, e.g. today's); month-to-date revenue summed per company; the companies in the band read in batches.
Both then read the state store (one document per company and month, saying what it already received), the
consenting contacts of the companies still to message, send through the effect executor (one key per kind,
company, month and contact) and record each company that an email reached.

Never a scan of all companies or all deals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flywheel.domain import cashback as rules_of
from flywheel.domain.cashback import Kind
from flywheel.domain.italian import euro, italian_date
from flywheel.domain.models import Company, Contact, RunRequest, RunResult, SendEmail
from flywheel.mail.templates import TEMPLATES
from flywheel.ports import Filter
from flywheel.services.context import Ports
from flywheel.services.customer_mail import address, contact_name, money, owner_name, send_and_report
from flywheel.services.mapping import company_properties, to_company
from flywheel.services.orders import ORDER_PROPERTIES, as_order
from flywheel.services.sirank.deal_index import DealIndex
from flywheel.services.sirank.ledger import LedgerMeta, index_name

FUNCTION = rules_of.FUNCTION
STATE_COLLECTION = "cashback_21st"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("reminders_sent", "cashback_at_stake", "nudges_sent", "revenue_missing", "no_consent", "emails")
STATE_CHUNK = 500


class Request(RunRequest):
    mode: Literal["reminder", "threshold"] | None = None
    force: bool = False  # the reminder on a day that is not the reminder day


@dataclass
class _Message:
    """One company to write to, for one kind: the amount at stake (cashback, or revenue still missing)."""

    kind: Kind
    company: Company
    amount: Decimal
    month_revenue: Decimal = Decimal(0)
    actions: list[SendEmail] = field(default_factory=list)


def run(request: Request, ports: Ports) -> RunResult:
    as_of = request.as_of or ports.clock.today()
    return _Run(ports, as_of, request).run()


class _Run:
    def __init__(self, ports: Ports, as_of: date, request: Request) -> None:
        self.ports = ports
        self.as_of = as_of
        self.dry_run = request.dry_run
        self.kinds: tuple[Kind, ...] = (request.mode,) if request.mode else rules_of.KINDS
        self.force = request.force
        self.rules = ports.settings.cashback
        self.contract = ports.settings.portal
        self.summary: dict[str, Any] = {
            "mode": request.mode or "both",
            "reminders_sent": 0,
            "cashback_at_stake": 0.0,
            "nudges_sent": 0,
            "revenue_missing": 0.0,
            "no_consent": 0,
            "already_sent": 0,
            "emails": 0,
        }

    def run(self) -> RunResult:
        messages: list[_Message] = []
        if "reminder" in self.kinds:
            if self.force or rules_of.is_reminder_day(self.as_of, self.rules):
                messages += self._reminders()
            else:
                self.summary["reminder_skipped"] = f"the reminder goes out on day {self.rules.reminder_day} only"
        if "threshold" in self.kinds:
            messages += self._nudges()
        states = self._states({m.company.id for m in messages})
        messages = self._not_yet_sent(messages, states)
        first_no_consent: dict[str, dict[str, Any]] = {}
        for message in address(self.ports, messages, self._email):
            flag = f"{message.kind}_no_consent"
            state = states.get(message.company.id, {})
            if flag not in state:  # counted once per company, kind and month, however many runs find it
                self.summary["no_consent"] += 1
                first_no_consent.setdefault(message.company.id, dict(state))[flag] = self.as_of.isoformat()
        return send_and_report(
            self.ports,
            messages,
            function=FUNCTION,
            as_of=self.as_of,
            dry_run=self.dry_run,
            summary=self.summary,
            count=self._count,
            record=lambda delivered: self._record(delivered, states, first_no_consent),
        )

    # --- reading -----------------------------------------------------------------------------------------------

    def _reminders(self) -> list[_Message]:
        name = self.contract.cashback_available
        filters = [Filter(name, "GT", "0")]
        found: list[_Message] = []
        for page in self.ports.crm.search_pages("companies", filters, company_properties(self.contract)):
            for record in page.records:
                company = to_company(record, self.contract)
                amount = record.prop(name)
                # search lags writes: trust the value read, not the filter
                if rules_of.has_cashback(company.cashback_available) and amount is not None:
                    found.append(_Message("reminder", company, Decimal(amount)))
        self.summary["companies_with_cashback"] = len(found)
        return found

    def _nudges(self) -> list[_Message]:
        mtd = month_to_date(self.ports, self.as_of)
        in_band = {
            company_id: (revenue, missing)
            for company_id, revenue in mtd.items()
            if (missing := rules_of.missing_to_threshold(revenue, self.rules)) is not None
        }
        self.summary["companies_ordering_this_month"] = len(mtd)
        self.summary["companies_in_band"] = len(in_band)
        # the band holds the same companies day after day: those nudged this month are not read again
        states = self._states(set(in_band))
        for company_id in [c for c in in_band if "threshold" in states.get(c, {})]:
            del in_band[company_id]
            self.summary["already_sent"] += 1
        if not in_band:
            return []
        records = self.ports.crm.read_batch("companies", sorted(in_band), company_properties(self.contract))
        found = []
        for record in records:
            revenue, missing = in_band[record.id]
            found.append(_Message("threshold", to_company(record, self.contract), missing, revenue))
        return found

    def _states(self, company_ids: set[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(rules_of.state_id(c, self.as_of) for c in company_ids)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), STATE_CHUNK):
            for doc_id, document in self.ports.state.get_documents(
                STATE_COLLECTION, ids[start : start + STATE_CHUNK]
            ).items():
                found[doc_id.rsplit(":", 1)[0]] = document
        return found

    def _not_yet_sent(self, messages: Sequence[_Message], states: Mapping[str, Mapping[str, Any]]) -> list[_Message]:
        kept = []
        for message in messages:
            if message.kind in states.get(message.company.id, {}):
                self.summary["already_sent"] += 1
            else:
                kept.append(message)
        return kept

    # --- acting ------------------------------------------------------------------------------------------------

    def _email(self, message: _Message, contact: Contact) -> SendEmail:
        company = message.company
        template = rules_of.TEMPLATES[message.kind]
        month_end = italian_date(rules_of.last_of_month(self.as_of))
        everything = {
            "company_name": company.name,
            "contact_name": contact_name(contact),
            "owner_name": owner_name(self.ports, company),
            "ecommerce_url": self.ports.settings.nurture.ecommerce_url,
            "cashback_amount": euro(float(message.amount)),
            "expiry_date": month_end,
            "month_end": month_end,
            "month_revenue": euro(float(message.month_revenue)),
            "missing_amount": euro(float(message.amount)),
            "threshold_amount": euro(self.rules.threshold_eur),
        }
        required = TEMPLATES[template]
        return SendEmail(
            company_id=company.id,
            contact_id=contact.id,
            template=template,
            key=rules_of.effect_key(message.kind, company.id, self.as_of, contact.id),
            context={k: v for k, v in everything.items() if k in required},
        )

    def _record(
        self,
        delivered: Sequence[_Message],
        states: Mapping[str, Mapping[str, Any]],
        first_no_consent: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """What each company received this month, so no later run of the month sends it again."""
        documents: dict[str, dict[str, Any]] = {c: dict(d) for c, d in first_no_consent.items()}
        for message in delivered:
            document = documents.setdefault(message.company.id, dict(states.get(message.company.id, {})))
            document[message.kind] = {"sent_on": self.as_of.isoformat(), "amount": str(message.amount)}
        by_id = {rules_of.state_id(c, self.as_of): d for c, d in documents.items()}
        if by_id:
            self.ports.state.put_documents(STATE_COLLECTION, by_id)

    # --- reporting ---------------------------------------------------------------------------------------------

    def _count(self, messages: Sequence[_Message]) -> None:
        at_stake = sum((m.amount for m in messages if m.kind == "reminder"), Decimal(0))
        missing = sum((m.amount for m in messages if m.kind == "threshold"), Decimal(0))
        self.summary["reminders_sent"] = sum(1 for m in messages if m.kind == "reminder")
        self.summary["cashback_at_stake"] = money(at_stake)
        self.summary["nudges_sent"] = sum(1 for m in messages if m.kind == "threshold")
        self.summary["revenue_missing"] = money(missing)


def month_to_date(ports: Ports, as_of: date) -> dict[str, Decimal]:
    """Revenue per company of the orders dated (in Rome) from the 1st of as_of's month to as_of, by searching
    the orders closed in that span: never a scan of all deals."""
    schema, zone = ports.schema, ports.settings.timezone
    won_stage_ids = schema.order_won_stage_ids()
    if not won_stage_ids:
        return {}
    rome = ZoneInfo(zone)
    start = datetime.combine(rules_of.first_of_month(as_of), time(0), rome)
    end = datetime.combine(as_of + timedelta(days=1), time(0), rome)  # exclusive
    filters = [
        Filter("pipeline", "IN", values=tuple(sorted(schema.order_pipeline_ids))),
        Filter("dealstage", "IN", values=tuple(sorted(won_stage_ids))),
        Filter("closedate", "GTE", value=str(int(start.timestamp() * 1000))),
        Filter("closedate", "LT", value=str(int(end.timestamp() * 1000))),
    ]
    orders = []
    for page in ports.crm.search_pages("deals", filters, ORDER_PROPERTIES):
        for record in page.records:
            order = as_order(record, schema, zone)
            if order is not None:
                orders.append(order)
    ports.progress(f"{FUNCTION} {as_of}: {len(orders)} orders this month")
    company_of = _companies_of(ports, [o.deal_id for o in orders])
    dated: dict[str, list[tuple[date, Decimal]]] = {}
    for order in orders:
        company_id = company_of.get(order.deal_id)
        if company_id is not None:
            dated.setdefault(company_id, []).append((order.day, order.amount or Decimal(0)))
    totals = {company_id: rules_of.month_to_date(days, as_of) for company_id, days in dated.items()}
    return {company_id: total for company_id, total in totals.items() if total > 0}


def _companies_of(ports: Ports, deal_ids: Sequence[str]) -> dict[str, str]:
    """The company of each order: from SiRank's deal index in the state store where it knows the deal (search
    results carry no associations), from one associations read per 100 of the others (today's new orders)."""
    found: dict[str, str] = {}
    meta = LedgerMeta.load(ports.state)
    if meta is not None:
        index = DealIndex(ports.state, index_name(meta.generation), meta.shards)
        numeric = [int(d) for d in deal_ids if d.isdigit()]
        index.load(numeric)
        for deal in numeric:
            company_id = index.get(deal)
            if company_id is not None:
                found[str(deal)] = company_id
    unknown = [d for d in deal_ids if d not in found]
    if unknown:
        linked = ports.crm.associated_ids("deals", "companies", unknown)
        found |= {deal: companies[0] for deal, companies in linked.items() if companies}
    return found
