"""`nurture_step`: the five-email sequence for lukewarm customers, one step per company per run at most.

A daily run:
1. reads the active sequences from the state store (a query by due date, never a scan of all companies) and
   searches HubSpot for companies whose `last_purchase_date` entered the enrolment window;
2. re-reads those companies (and, for the ones about to receive an email or showing a newer last order, their
   order deals) to end any sequence an order has ended, as `converted`;
3. sends each due step to the consenting contacts through the effect executor, exactly once per
   company/spell/step/contact, and advances a record only for a step that actually went out;
4. shows the state on the company (`nurture_step`, `nurture_status`) and, after the fifth step, suspends the
   e-commerce account once.
The order webhook ends a running sequence at once, so that no further step goes out after an order.

Every state write re-reads the record first and never turns an ended sequence back into an active one, so a
run racing the webhook (or another run) cannot resurrect what the other ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, cast

from flywheel.config import require_coupon_secret
from flywheel.domain import nurture as rules_of
from flywheel.domain.italian import italian_date
from flywheel.domain.models import (
    Action,
    Company,
    Contact,
    CrmRecord,
    ExecutionReport,
    RunRequest,
    RunResult,
    SendEmail,
    UpdateCompany,
)
from flywheel.domain.nurture import Conversion, Enrolment, Send, Status
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.mail.templates import TEMPLATES
from flywheel.ports import Filter, Reservation, SequenceRecord, StaleSequence
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.mapping import (
    DEAL_PROPERTIES,
    company_properties,
    to_company,
)
from flywheel.services.orders import as_order
from flywheel.services.reads import associated_records, contacts_of

FUNCTION = "nurture_step"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("enrolled", "sent", "converted", "completed", "no_consent", "skipped_no_consent")
KIND = "nurture"
# every active record is due within one step interval; this horizon reads them all with the due-date query
_ACTIVE_HORIZON = timedelta(days=3660)


class Request(RunRequest):
    backfill: bool = False  # enrol beyond the 15-day window, deliberately


# --- records ---------------------------------------------------------------------------------------------------


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


# --- the daily run ---------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """One enrolment on this run: what we knew, what we decided, whom we write to."""

    enrolment: Enrolment
    is_new: bool
    company: Company | None = None
    conversion: Conversion | None = None
    step: int | None = None
    recipients: list[Contact] = field(default_factory=list)
    actions: list[SendEmail] = field(default_factory=list)
    outcome: Enrolment | None = None


def run(request: Request, ports: Ports) -> RunResult:
    as_of = request.as_of or ports.clock.today()
    if not request.dry_run:
        require_coupon_secret(ports.settings)
    return _DailyRun(ports, as_of, dry_run=request.dry_run, backfill=request.backfill).run()


class _DailyRun:
    def __init__(self, ports: Ports, as_of: date, *, dry_run: bool, backfill: bool) -> None:
        self.ports = ports
        self.as_of = as_of
        self.dry_run = dry_run
        self.backfill = backfill
        self.rules = ports.settings.nurture
        self.contract = ports.settings.portal
        # suspension keys this run holds, by company: only this run may complete (or release) them
        self.suspensions: dict[str, Reservation] = {}

    def run(self) -> RunResult:
        progress = self.ports.progress
        progress(f"{FUNCTION} {self.as_of}: reading active sequences")
        active = {e.id: e for e in map(from_record, self.ports.state.due_sequences(KIND, self.as_of + _ACTIVE_HORIZON))}
        companies = self._read_companies({e.company_id for e in active.values()})
        plans = [_Plan(e, is_new=False, company=companies.get(e.company_id)) for e in active.values()]
        # a company deleted or merged away in HubSpot: its sequence ends here, nothing is sent or written to it
        gone = [p for p in plans if p.company is None]
        for plan in gone:
            plan.outcome = rules_of.end_for_missing_company(plan.enrolment, self.as_of)
        plans = [p for p in plans if p.company is not None] + self._enrolments(active)
        progress(f"{FUNCTION} {self.as_of}: {len(plans)} sequences to look at")

        self._find_conversions(plans)
        # a company that ordered since its last known order is not lukewarm after all: that spell is over
        plans = [p for p in plans if not (p.is_new and p.conversion is not None)]
        self._decide(plans)
        actions: list[Action] = [a for p in plans for a in p.actions]
        if self.dry_run:
            actions += self._property_actions(plans)
            return self._result([*plans, *gone], actions, ExecutionReport())

        report = self._send(plans)
        updates = self._property_actions(plans)
        if updates:
            report.merge(EffectExecutor(self.ports).execute(updates))
        self._settle_suspensions(plans, report)
        for plan in [*plans, *gone]:
            if plan.outcome is not None and plan.outcome != plan.enrolment:
                plan.outcome = save(self.ports, plan.outcome)
        progress(f"{FUNCTION} {self.as_of}: done")
        return self._result([*plans, *gone], actions + updates, report)

    # --- reading -----------------------------------------------------------------------------------------------

    def _read_companies(self, ids: Iterable[str]) -> dict[str, Company]:
        wanted = sorted(ids)
        if not wanted:
            return {}
        records = self.ports.crm.read_batch("companies", wanted, self._company_properties())
        return {r.id: to_company(r, self.contract) for r in records}

    def _company_properties(self) -> list[str]:
        return [*company_properties(self.contract), self.contract.nurture_step, self.contract.nurture_status]

    def _enrolments(self, active: Mapping[str, Enrolment]) -> list[_Plan]:
        """Companies whose last order entered the window, once per spell (a record of any status blocks)."""
        earliest, latest = rules_of.enrolment_bounds(self.as_of, self.rules, backfill=self.backfill)
        name = self.contract.last_purchase_date
        if earliest is None:
            filters = [Filter(name, "LTE", latest.isoformat())]
        else:
            filters = [Filter(name, "BETWEEN", earliest.isoformat(), high_value=latest.isoformat())]
        plans: list[_Plan] = []
        for page in self.ports.crm.search_pages("companies", filters, self._company_properties()):
            for record in page.records:
                company = to_company(record, self.contract)
                spell = company.last_purchase_date
                if spell is None or not rules_of.is_enrollable(spell, self.as_of, self.rules, backfill=self.backfill):
                    continue  # search lags writes: trust the value read, not the filter
                sequence_id = rules_of.sequence_id(company.id, spell)
                if sequence_id in active or self.ports.state.get_sequence(KIND, sequence_id) is not None:
                    continue
                plans.append(_Plan(rules_of.enrol(company.id, spell, self.as_of), is_new=True, company=company))
        return plans

    def _find_conversions(self, plans: Sequence[_Plan]) -> None:
        """An order ends the sequence. `last_purchase_date` is refreshed daily by sirank_recalc; a company about
        to receive an email also has its order deals read, so a purchase made since is never answered by a
        'we miss you'."""
        about_to_send = [p for p in plans if rules_of.step_due(p.enrolment, self.as_of) is not None]
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
        orders = orders_after(self.ports, since)
        for plan in plans:
            spell = plan.enrolment.spell
            found = next((o for o in orders.get(plan.enrolment.company_id, []) if o.order_date > spell), None)
            if found is not None:
                plan.conversion = found
            elif plan.company is not None and rules_of.is_converting_order(
                plan.enrolment, plan.company.last_purchase_date
            ):
                assert plan.company.last_purchase_date is not None
                plan.conversion = Conversion(order_date=plan.company.last_purchase_date)

    def _decide(self, plans: Sequence[_Plan]) -> None:
        candidates = [p for p in plans if p.conversion is None and rules_of.step_due(p.enrolment, self.as_of)]
        contacts = self._consenting_contacts([p.enrolment.company_id for p in candidates])
        for plan in plans:
            e = plan.enrolment
            plan.recipients = contacts.get(e.company_id, [])
            order_date = None if plan.conversion is None else plan.conversion.order_date
            decision = rules_of.decide(e, self.as_of, order_date, bool(plan.recipients))
            if decision == "convert":
                assert plan.conversion is not None
                plan.outcome = rules_of.convert(e, plan.conversion, self.as_of)
            elif decision == "no_consent":
                plan.outcome = rules_of.end_for_consent(e, self.as_of)
            elif decision == "send":
                plan.step = rules_of.step_due(e, self.as_of)
                plan.actions = self._emails(plan)
            elif plan.is_new:
                plan.outcome = e  # enrolled on a day it may not yet send (never by the rules as they stand)

    def _consenting_contacts(self, company_ids: Sequence[str]) -> dict[str, list[Contact]]:
        """Each company's contacts who may be emailed, in association order: the first is the primary."""
        if not company_ids:
            return {}
        consenting: dict[str, list[Contact]] = {}
        consent = ConsentPolicy.from_settings(self.ports.settings)
        for company_id, contacts in contacts_of(self.ports, company_ids).items():
            found = [contact for contact in contacts if may_email(contact, consent)]
            consenting[company_id] = found if self.rules.recipients == "all" else found[:1]
        return consenting

    # --- acting ------------------------------------------------------------------------------------------------

    def _emails(self, plan: _Plan) -> list[SendEmail]:
        e, step = plan.enrolment, plan.step
        assert step is not None
        template = rules_of.template_for(step)
        return [
            SendEmail(
                company_id=e.company_id,
                contact_id=contact.id,
                template=template,
                key=rules_of.effect_key(e.company_id, e.spell, step, contact.id),
                context=self._context(plan, contact, template),
            )
            for contact in plan.recipients
        ]

    def _context(self, plan: _Plan, contact: Contact, template: str) -> dict[str, str]:
        e, company = plan.enrolment, plan.company
        expiry = self._coupon_expiry(e)
        code = self._coupon(e)
        owner = self.ports.schema.owner(company.owner_id if company else None)
        everything = {
            "company_name": company.name if company else f"Azienda {e.company_id}",
            "contact_name": " ".join(n for n in (contact.first_name, contact.last_name) if n) or "Cliente",
            "ecommerce_url": self.rules.ecommerce_url,
            "survey_url": self.rules.survey_url,
            "coupon_code": code,
            "coupon_expiry": italian_date(expiry),
            "suspension_date": italian_date(self.as_of),
            "owner_name": owner.full_name if owner else "il tuo referente commerciale",
        }
        # only what the template uses: with the HubSpot mailer each key becomes a custom property
        required = TEMPLATES.get(template, tuple(everything))
        return {k: v for k, v in everything.items() if k in required}

    def _coupon_expiry(self, e: Enrolment) -> date:
        """The gift's last day: recorded once the gift went out, else as if it goes out today."""
        return rules_of.coupon_expiry_for(e, self.rules) or self.as_of + timedelta(days=self.rules.coupon_valid_days)

    def _coupon(self, e: Enrolment) -> str:
        """The code carries its expiry, signed: the shop's `coupon_check` reads both from the code alone."""
        return e.coupon_code or rules_of.coupon_code(
            self.rules.coupon_secret, self.rules.coupon_prefix, e.company_id, self._coupon_expiry(e)
        )

    def _send(self, plans: Sequence[_Plan]) -> ExecutionReport:
        sending = [p for p in plans if p.actions]
        for plan in sending:
            if plan.is_new:
                # stored before the first email, so a crash after sending still finds the enrolment tomorrow
                save(self.ports, plan.enrolment)
        report = EffectExecutor(self.ports).execute([a for p in sending for a in p.actions])
        for plan in sending:
            assert plan.step is not None
            # only confirmed messages count: an email whose outcome is unknown is not a step sent
            delivered = tuple(
                (a.contact_id, str(report.results[a.key]["message_id"]))
                for a in plan.actions
                if a.key in report.results and report.results[a.key].get("message_id")
            )
            if delivered:
                plan.outcome = rules_of.record_send(
                    plan.enrolment,
                    plan.step,
                    self.as_of,
                    self.rules,
                    messages=delivered,
                    coupon_code=self._coupon(plan.enrolment) if plan.step >= 2 else None,
                )
            # nothing delivered (held by a concurrent run, failed, consent withdrawn a moment ago): the step
            # stays due and the next run tries again or ends the sequence for consent
        return report

    def _property_actions(self, plans: Sequence[_Plan]) -> list[Action]:
        """`nurture_step` / `nurture_status` on each company whose sequence changed, and the suspension.

        One update per company (HubSpot refuses a batch naming a record twice); when a run ends an old spell
        and enrols a new one, the new spell is what the company shows.
        """
        contract = self.contract
        by_company: dict[str, dict[str, str]] = {}
        for plan in sorted(plans, key=lambda p: p.enrolment.spell):
            outcome = plan.outcome
            if outcome is None and self.dry_run and plan.step is not None:
                # a dry run shows what a successful send would write
                coupon = self._coupon(plan.enrolment) if plan.step >= 2 else None
                outcome = rules_of.record_send(plan.enrolment, plan.step, self.as_of, self.rules, coupon_code=coupon)
            if outcome is None or (outcome == plan.enrolment and not plan.is_new):
                continue
            properties = by_company.setdefault(outcome.company_id, {})
            properties[contract.nurture_step] = str(outcome.step)
            properties[contract.nurture_status] = rules_of.HUBSPOT_STATUS[outcome.status]
            if outcome.coupon_code and outcome.coupon_code != plan.enrolment.coupon_code:
                # the gift just went out: on the company, where the e-commerce site (reading HubSpot) honours it
                properties[contract.nurture_coupon_code] = outcome.coupon_code
                expiry = rules_of.coupon_expiry_for(outcome, self.rules)
                properties[contract.nurture_coupon_expires] = "" if expiry is None else expiry.isoformat()
            just_completed = outcome.status == "completed" and plan.enrolment.is_active
            if just_completed and (self.dry_run or self._reserve_suspension(outcome)):
                properties[contract.ecommerce_status] = "suspended"
        return [
            UpdateCompany(company_id=company_id, properties=properties) for company_id, properties in by_company.items()
        ]

    def _reserve_suspension(self, e: Enrolment) -> bool:
        """The account is suspended once per spell, even if two runs record the fifth step."""
        claim = self.ports.idempotency.claim(rules_of.suspension_key(e.company_id, e.spell))
        if claim.owned:
            self.suspensions[e.company_id] = claim
        return claim.owned

    def _settle_suspensions(self, plans: Sequence[_Plan], report: ExecutionReport) -> None:
        """Complete the suspensions this run made. One HubSpot refused is released, and its sequence is not
        stored as completed: the next run records the fifth step again (its email is done, not resent) and
        suspends then."""
        idempotency = self.ports.idempotency
        for plan in plans:
            claim = self.suspensions.get(plan.enrolment.company_id)
            if claim is None or plan.outcome is None or plan.outcome.status != "completed":
                continue
            if f"update_company:{plan.enrolment.company_id}" in report.refusals:
                idempotency.release(claim)
                plan.outcome = None
            else:
                idempotency.complete(claim, {"suspended_on": self.as_of.isoformat()})

    # --- reporting ---------------------------------------------------------------------------------------------

    def _result(self, plans: Sequence[_Plan], actions: list[Action], report: ExecutionReport) -> RunResult:
        summary: dict[str, Any] = {
            "enrolled": 0,
            "sent": {f"step_{s}": 0 for s in rules_of.STEPS},
            "emails": 0,
            "converted": 0,
            "completed": 0,
            "no_consent": 0,
            "skipped_no_consent": 0,
            "company_missing": 0,
            "pending": 0,
            "active": 0,
        }
        for plan in plans:
            before = plan.enrolment
            after = plan.outcome
            if after is None and self.dry_run and plan.step is not None:
                after = rules_of.record_send(before, plan.step, self.as_of, self.rules)
            after = after or before
            if plan.is_new and after.status != "skipped_no_consent":
                summary["enrolled"] += 1
            if after.step > before.step:
                summary["sent"][f"step_{after.step}"] += 1
            elif plan.step is not None:
                summary["pending"] += 1
            ended_now = after.status != before.status or (plan.is_new and not after.is_active)
            if ended_now and after.status in summary:
                summary[after.status] += 1
            summary["active"] += after.is_active
        summary["emails"] = (
            len([a for a in actions if a.type == "send_email"]) if self.dry_run else report.total("sent")
        )
        if not self.dry_run:
            summary["effects"] = report.as_dict()
        return RunResult(
            function=FUNCTION, as_of=self.as_of, dry_run=self.dry_run, actions=actions, summary=summary, report=report
        )


def orders_after(ports: Ports, since: Mapping[str, date]) -> dict[str, list[Conversion]]:
    """For each company, its orders (closed-won deals in an order pipeline) dated after `since`, oldest first."""
    if not since:
        return {}
    deals = associated_records(ports, "companies", "deals", since, DEAL_PROPERTIES)
    timezone = ports.settings.timezone
    found: dict[str, list[Conversion]] = {}
    for company_id, records in deals.items():
        orders = [_as_order(ports, record, timezone) for record in records]
        after = [o for o in orders if o is not None and o.order_date > since[company_id]]
        found[company_id] = sorted(after, key=lambda o: (o.order_date, o.order_id or ""))
    return found


def _as_order(ports: Ports, record: CrmRecord, timezone: str) -> Conversion | None:
    """The deal as the order that ends a sequence (the shared reading of orders), or None."""
    order = as_order(record, ports.schema, timezone)
    return None if order is None else Conversion(order_date=order.day, order_value=order.value, order_id=order.deal_id)


# --- the order webhook -----------------------------------------------------------------------------------------


def webhook(events: list[dict[str, Any]], ports: Ports) -> RunResult:
    """Orders ending running sequences, at once. Events only name deals: the deal is read again from HubSpot
    (the event may be stale, or not about an order at all) and checked with the portal schema."""
    as_of = ports.clock.today()
    deal_ids = sorted({str(e["objectId"]) for e in events if e.get("objectId") is not None})
    summary: dict[str, Any] = {"events": len(events), "orders": 0, "converted": 0}
    if not deal_ids:
        return RunResult(function=FUNCTION, as_of=as_of, dry_run=False, actions=[], summary=summary)
    records = ports.crm.read_batch("deals", deal_ids, DEAL_PROPERTIES)
    linked = ports.crm.associated_ids("deals", "companies", [r.id for r in records])
    orders = [o for o in (_as_order(ports, r, ports.settings.timezone) for r in records) if o is not None]
    summary["orders"] = len(orders)
    updates: dict[str, dict[str, str]] = {}
    # oldest first: when several orders arrive together, the first one is the conversion
    for order in sorted(orders, key=lambda o: (o.order_date, o.order_id or "")):
        for company_id in linked.get(order.order_id or "", []):
            for stored in ports.state.sequences_of_company(KIND, company_id):
                enrolment = from_record(stored)
                if not rules_of.is_converting_order(enrolment, order.order_date):
                    continue
                ended = save(ports, rules_of.convert(enrolment, order, as_of))
                if ended.status != "converted" or ended.conversion != order:
                    continue  # ended otherwise meanwhile
                summary["converted"] += 1
                updates[company_id] = {
                    ports.settings.portal.nurture_step: str(ended.step),
                    ports.settings.portal.nurture_status: "converted",
                }
    actions = [UpdateCompany(company_id=c, properties=p) for c, p in updates.items()]
    report = EffectExecutor(ports).execute(actions) if actions else ExecutionReport()
    return RunResult(function=FUNCTION, as_of=as_of, dry_run=False, actions=actions, summary=summary, report=report)
