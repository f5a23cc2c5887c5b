"""`dp_progress`: congratulations on a new D&P level, and a nudge near the next level's threshold.

A daily run:
1. searches the companies with a `dp_level` (the programme's companies; never a scan of all companies);
2. compares each level with the last one seen, kept per company in the state store: a first sighting and a fall
   are recorded silently, a rise is congratulated;
3. for the others below gold, reads the rolling 12-month revenue (R12) from SiRank's ledger in the state store
   (the same window and orders as SiRank; a company not in the ledger yet has its order deals read) and nudges
   those within `near_pct` below the next threshold, at most once per level per `nudge_cooldown_days`;
4. sends to the consenting contacts through the effect executor and records what reached each company.

A congratulation that did not go out (a transient fault) leaves the old level stored, so the next run tries again;
its key (company, level, month, contact) keeps it to one email.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flywheel.domain import loyalty
from flywheel.domain.italian import euro
from flywheel.domain.models import Company, Contact, RunRequest, RunResult, SendEmail
from flywheel.domain.sirank import in_window
from flywheel.mail.templates import TEMPLATES
from flywheel.ports import Filter
from flywheel.services.context import Ports
from flywheel.services.customer_mail import address, contact_name, money, owner_name, send_and_report
from flywheel.services.mapping import company_properties, to_company
from flywheel.services.orders import ORDER_PROPERTIES, as_order
from flywheel.services.reads import associated_records
from flywheel.services.sirank.ledger import LedgerCache, LedgerMeta, ledger_name

FUNCTION = loyalty.FUNCTION
STATE_COLLECTION = "dp_progress"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("congratulations", "progress_nudges", "revenue_missing", "no_consent", "emails")
STATE_CHUNK = 500


class Request(RunRequest):
    """`{"as_of"?, "dry_run"?}`: the daily run needs nothing more."""


@dataclass
class _Company:
    company: Company
    level: str
    state: dict[str, Any]  # what the store holds (empty: never seen)
    change: loyalty.Change
    progress: loyalty.Progress | None = None
    revenue_12m: Decimal | None = None
    template: str | None = None
    actions: list[SendEmail] = field(default_factory=list)


def run(request: Request, ports: Ports) -> RunResult:
    as_of = request.as_of or ports.clock.today()
    return _Run(ports, as_of, dry_run=request.dry_run).run()


class _Run:
    def __init__(self, ports: Ports, as_of: date, *, dry_run: bool) -> None:
        self.ports = ports
        self.as_of = as_of
        self.dry_run = dry_run
        self.rules = ports.settings.dp
        self.contract = ports.settings.portal
        self.summary: dict[str, Any] = {
            "companies": 0,
            "first_sightings": 0,
            "rises": 0,
            "falls": 0,
            "unknown_level": 0,
            "congratulations": {level: 0 for level in loyalty.LEVELS[1:]},
            "progress_nudges": {level: 0 for level in loyalty.LEVELS[1:]},
            "revenue_missing": 0.0,
            "no_consent": 0,
            "cooling_down": 0,
            "emails": 0,
        }

    def run(self) -> RunResult:
        companies = self._companies()
        self._plan_progress([c for c in companies if c.change != "rise" and c.level != "gold"])
        messaging = [c for c in companies if c.template is not None]
        no_consent = address(self.ports, messaging, self._email)
        return send_and_report(
            self.ports,
            messaging,
            function=FUNCTION,
            as_of=self.as_of,
            dry_run=self.dry_run,
            summary=self.summary,
            count=lambda sent: self._count(companies, sent, no_consent),
            record=lambda delivered: self._record(companies, delivered, no_consent),
        )

    # --- reading and deciding ----------------------------------------------------------------------------------

    def _companies(self) -> list[_Company]:
        name = self.contract.dp_level
        records = [
            record
            for page in self.ports.crm.search_pages(
                "companies", [Filter(name, "HAS_PROPERTY")], company_properties(self.contract)
            )
            for record in page.records
        ]
        states = self._states(r.id for r in records)
        found = []
        for record in records:
            level = loyalty.level_of(record.prop(name))
            if level is None:  # emptied since the search indexed it, or a value the programme does not have
                self.summary["unknown_level"] += record.prop(name) is not None
                continue
            state = states.get(record.id, {})
            plan = _Company(to_company(record, self.contract), level, state, loyalty.change(state.get("level"), level))
            if plan.change == "rise":
                plan.template = loyalty.CONGRATULATIONS_TEMPLATE
            found.append(plan)
        self.summary["companies"] = len(found)
        return found

    def _states(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), STATE_CHUNK):
            found |= self.ports.state.get_documents(STATE_COLLECTION, wanted[start : start + STATE_CHUNK])
        return found

    def _plan_progress(self, candidates: Sequence[_Company]) -> None:
        eligible = [c for c in candidates if c.level != "none" or self.rules.nudge_non_members]
        revenue = revenue_12m(self.ports, [c.company.id for c in eligible], self.as_of)
        for plan in eligible:
            plan.revenue_12m = revenue.get(plan.company.id, Decimal(0))
            found = loyalty.progress(plan.level, plan.revenue_12m, self.rules)
            if found is None:
                continue
            last = plan.state.get("nudged", {}).get(found.level)
            if not loyalty.nudge_allowed(None if last is None else date.fromisoformat(last), self.as_of, self.rules):
                self.summary["cooling_down"] += 1
                continue
            plan.progress = found
            plan.template = loyalty.PROGRESS_TEMPLATE

    # --- acting ------------------------------------------------------------------------------------------------

    def _email(self, plan: _Company, contact: Contact) -> SendEmail:
        company = plan.company
        assert plan.template is not None
        if plan.progress is None:
            level = plan.level
            key = loyalty.congratulations_key(company.id, level, self.as_of, contact.id)
        else:
            level = plan.progress.level
            key = loyalty.progress_key(company.id, level, self.as_of, contact.id)
        everything = {
            "company_name": company.name,
            "contact_name": contact_name(contact),
            "owner_name": owner_name(self.ports, company),
            "ecommerce_url": self.ports.settings.nurture.ecommerce_url,
            "level_name": loyalty.LEVEL_NAMES[level],
        }
        if plan.progress is not None:
            everything["revenue_12m"] = euro(float(plan.revenue_12m or 0))
            everything["missing_amount"] = euro(float(plan.progress.missing))
            everything["threshold_amount"] = euro(float(plan.progress.threshold))
        required = TEMPLATES[plan.template]
        return SendEmail(
            company_id=company.id,
            contact_id=contact.id,
            template=plan.template,
            key=key,
            context={k: v for k, v in everything.items() if k in required},
        )

    def _record(
        self, companies: Sequence[_Company], delivered: Sequence[_Company], no_consent: Sequence[_Company]
    ) -> None:
        """The level seen, and the nudges that reached each company. A rise stays unrecorded until its
        congratulation went out (or the company has nobody to write to)."""
        reached_ids = {c.company.id for c in delivered}
        silent_ids = {c.company.id for c in no_consent}
        documents: dict[str, dict[str, Any]] = {}
        for plan in companies:
            document = dict(plan.state)
            settled = plan.change != "rise" or plan.company.id in reached_ids or plan.company.id in silent_ids
            if settled and document.get("level") != plan.level:
                document["level"] = plan.level
                document["since"] = self.as_of.isoformat()
            if plan.progress is not None and plan.company.id in reached_ids:
                document["nudged"] = {**document.get("nudged", {}), plan.progress.level: self.as_of.isoformat()}
            if plan.progress is not None and plan.company.id in silent_ids:
                document["no_consent"] = {**document.get("no_consent", {}), plan.progress.level: self.as_of.isoformat()}
            if document != plan.state:
                documents[plan.company.id] = document
        ids = sorted(documents)
        for start in range(0, len(ids), STATE_CHUNK):
            self.ports.state.put_documents(
                STATE_COLLECTION, {i: documents[i] for i in ids[start : start + STATE_CHUNK]}
            )

    # --- reporting ---------------------------------------------------------------------------------------------

    def _count(self, companies: Sequence[_Company], sent: Sequence[_Company], no_consent: Sequence[_Company]) -> None:
        changes = Counter(c.change for c in companies)
        self.summary["first_sightings"] = changes["first_sighting"]
        self.summary["rises"] = changes["rise"]
        self.summary["falls"] = changes["fall"]
        for plan in sent:
            if plan.progress is None:
                self.summary["congratulations"][plan.level] += 1
            else:
                self.summary["progress_nudges"][plan.progress.level] += 1
        missing = sum((c.progress.missing for c in sent if c.progress is not None), Decimal(0))
        self.summary["revenue_missing"] = money(missing)
        # a company without consent is counted when its rise is seen, and once per nudge period
        self.summary["no_consent"] = sum(1 for c in no_consent if c.progress is None or self._first_no_consent(c))

    def _first_no_consent(self, plan: _Company) -> bool:
        assert plan.progress is not None
        last = plan.state.get("no_consent", {}).get(plan.progress.level)
        return loyalty.nudge_allowed(None if last is None else date.fromisoformat(last), self.as_of, self.rules)


def revenue_12m(ports: Ports, company_ids: Sequence[str], as_of: date) -> dict[str, Decimal]:
    """Each company's R12 on as_of, as SiRank counts it: from SiRank's ledger in the state store (no HubSpot
    call), or, for a company the ledger does not hold yet (no SiRank run so far), from its order deals."""
    window = ports.settings.sirank
    found: dict[str, Decimal] = {}
    missing = list(company_ids)
    meta = LedgerMeta.load(ports.state)
    if meta is not None and company_ids:
        ledger = LedgerCache(ports.state, ledger_name(meta.generation))
        held = ledger.loaded(company_ids)
        for company_id, state in held.items():
            if company_id in ledger.not_in_ledger:
                continue
            cents = sum(c for _, day, c in state.order_entries() if in_window(date.fromordinal(day), as_of, window))
            found[company_id] = Decimal(cents) / 100
        missing = sorted(ledger.not_in_ledger & set(company_ids))
    if missing:
        deals = associated_records(ports, "companies", "deals", missing, ORDER_PROPERTIES)
        for company_id in missing:
            orders = (as_order(r, ports.schema, ports.settings.timezone) for r in deals.get(company_id, []))
            found[company_id] = sum(
                (o.amount or Decimal(0) for o in orders if o is not None and in_window(o.day, as_of, window)),
                Decimal(0),
            )
    return found
