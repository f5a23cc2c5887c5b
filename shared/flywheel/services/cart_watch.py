"""cart_watch: a reminder to the customer for a cart left 24 hours, an alert to the owner above 2,000 EUR.

An hourly run reads only what changed: carts modified in the last 7 days, found by search on
`hs_lastmodifieddate` (one call per 200 carts, never a scan). It decides with `flywheel.domain.carts`; what is
already done (the keys of a cart version) is known from the state store before anything else is read, so the
associations, line items, companies and contacts are read only for the abandoned carts that still need an
effect. The effects go through the EffectExecutor (exactly once per key).

State kept in the store (besides the executor's idempotency keys, which stay the truth):
- `cart_watch_carts/<cart id>`: when the cart was last reminded (the 72-hour limit spans versions) and which
  version was reminded and alerted, so that an hourly run knows what is done with one batched read instead of a
  key lookup per cart; a document lost or not yet written only means the keys are looked up;
- `cart_watch_checkouts/<cart id>`: the version a checkout webhook saw, so a run reading an older version
  (HubSpot's search lags writes) reminds nobody of a cart already bought.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, model_validator

from flywheel.domain import carts as rules_of
from flywheel.domain.carts import Cart, CartLine
from flywheel.domain.models import (
    Action,
    Company,
    Contact,
    CrmRecord,
    ExecutionReport,
    RunRequest,
    RunResult,
)
from flywheel.mail.consent import ConsentPolicy, consent_refusal
from flywheel.ports import Filter
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.mapping import contact_properties, parse_instant, parse_number, to_company, to_contact
from flywheel.webhooks import object_ids

FUNCTION = "cart_watch"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("reminded", "owners_alerted")

CART_PROPERTIES = (
    "hs_cart_name",
    "hs_external_cart_id",
    "hs_external_status",
    "hs_total_price",
    "hs_currency_code",
    "hs_cart_url",
    "hs_lastmodifieddate",
)
LINE_ITEM_PROPERTIES = ("name", "quantity", "price", "amount")
# HubSpot's object type id of carts, named by generic `object.*` subscription events
CARTS_TYPE_ID = "0-142"
CARTS = "cart_watch_carts"
CHECKOUTS = "cart_watch_checkouts"
# the business time zone a date-time as_of is read in before the settings are at hand
_REQUEST_ZONE = ZoneInfo("Europe/Rome")


class Request(RunRequest):
    """`{"as_of"?, "dry_run"?}`; `as_of` may be a date-time (the instant idleness is judged at), which also
    arrives as `at`."""

    at: AwareDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _date_time_as_of(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        value = data.get("as_of")
        instant: datetime | None = None
        if isinstance(value, datetime):
            instant = value
        elif isinstance(value, str) and "T" in value:
            try:
                instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return data  # the date field reports it
        if instant is None:
            return data
        if instant.tzinfo is None:
            raise ValueError("as_of: a date-time needs its offset (e.g. 2026-11-30T10:00:00+01:00)")
        return {**data, "as_of": instant.astimezone(_REQUEST_ZONE).date(), "at": instant}


# --- reading ---------------------------------------------------------------------------------------------------


def to_cart(record: CrmRecord) -> Cart | None:
    modified = parse_instant(record.prop("hs_lastmodifieddate"))
    if modified is None:
        return None
    return Cart(
        id=record.id,
        modified_at=modified,
        status=record.prop("hs_external_status"),
        total=parse_number(record.prop("hs_total_price")),
        currency=record.prop("hs_currency_code"),
        name=record.prop("hs_cart_name"),
        url=record.prop("hs_cart_url"),
    )


def to_line(record: CrmRecord) -> CartLine:
    return CartLine(
        name=record.prop("name") or "Prodotto",
        quantity=parse_number(record.prop("quantity")) or 1.0,
        unit_price=parse_number(record.prop("price")),
        amount=parse_number(record.prop("amount")),
    )


def _changed_carts(ports: Ports, instant: datetime) -> list[Cart]:
    since = rules_of.search_since(instant, ports.settings.cart)
    filters = [Filter("hs_lastmodifieddate", "GTE", value=str(int(since.timestamp() * 1000)))]
    found = []
    for page in ports.crm.search_pages("carts", filters, CART_PROPERTIES):
        for record in page.records:
            cart = to_cart(record)
            # search lags writes and matches on what it indexed: trust the value read, not the filter
            if cart is not None and cart.modified_at >= since:
                found.append(cart)
    return found


def _first(linked: Mapping[str, list[str]]) -> dict[str, str]:
    return {record_id: ids[0] for record_id, ids in linked.items() if ids}


def _contacts(ports: Ports, cart_ids: Sequence[str]) -> dict[str, Contact]:
    """Each cart's (first) contact: one associations read and one batch read per 100 carts."""
    if not cart_ids:
        return {}
    contract = ports.settings.portal
    contact_of = _first(ports.crm.associated_ids("carts", "contacts", cart_ids))
    ids = sorted(set(contact_of.values()))
    records = ports.crm.read_batch("contacts", ids, contact_properties(contract)) if ids else []
    contacts = {r.id: to_contact(r, contract) for r in records}
    return {cart_id: contacts[c] for cart_id, c in contact_of.items() if c in contacts}


def _companies_and_lines(ports: Ports, cart_ids: Sequence[str]) -> tuple[dict[str, Company], dict[str, list[CartLine]]]:
    """Each cart's (first) company and its contents, read only for the carts something happens to."""
    if not cart_ids:
        return {}, {}
    crm, contract = ports.crm, ports.settings.portal
    company_of = _first(crm.associated_ids("carts", "companies", cart_ids))
    company_ids = sorted(set(company_of.values()))
    records = (
        crm.read_batch("companies", company_ids, [contract.company_name, "hubspot_owner_id"]) if company_ids else []
    )
    companies = {r.id: to_company(r, contract) for r in records}
    lines_of = crm.associated_ids("carts", "line_items", cart_ids)
    line_ids = sorted({line for ids in lines_of.values() for line in ids})
    lines = {r.id: to_line(r) for r in crm.read_batch("line_items", line_ids, LINE_ITEM_PROPERTIES)} if line_ids else {}
    return (
        {cart_id: companies[c] for cart_id, c in company_of.items() if c in companies},
        {cart_id: [lines[i] for i in ids if i in lines] for cart_id, ids in lines_of.items()},
    )


# --- planning --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Plan:
    instant: datetime
    actions: list[Action] = dataclasses.field(default_factory=list)
    seen: int = 0
    abandoned: int = 0
    value_at_stake: float = 0.0
    not_abandoned: Counter[str] = dataclasses.field(default_factory=Counter)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    already_reminded: int = 0
    already_alerted: int = 0
    # abandoned carts that still needed a reminder or an alert: the ones whose contact (and more) was read
    needing_effect: int = 0
    # what the state store says of each abandoned cart (see CARTS), updated after the effects
    documents: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # reminder key -> cart, and the alert keys of each cart, to record what went out
    reminders: dict[str, Cart] = dataclasses.field(default_factory=dict)
    alerts: dict[str, tuple[Cart, tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    # versions found done by key lookup while their document did not say so (a run stopped before writing it)
    healed: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def _is_done(ports: Ports, key: str) -> bool:
    found = ports.state.lookup(key)
    return found is not None and found.status == "done"


def _checked_out_since(ports: Ports, carts: Sequence[Cart]) -> set[str]:
    """Carts a checkout webhook already saw at this version or a later one."""
    documents = ports.state.get_documents(CHECKOUTS, [c.id for c in carts])
    cancelled = set()
    for cart in carts:
        seen = parse_instant((documents.get(cart.id) or {}).get("modified_at"))
        if seen is not None and cart.modified_at <= seen:
            cancelled.add(cart.id)
    return cancelled


def _reminded_at(document: Mapping[str, Any]) -> datetime | None:
    return parse_instant(document.get("reminded_at"))


# an abandoned cart that still needs something: (cart, EUR total, remind?, alert?)
_Needed = tuple[Cart, float, bool, bool]


def _plan(ports: Ports, carts: Sequence[Cart], instant: datetime) -> _Plan:
    plan = _Plan(instant=instant, seen=len(carts))
    abandoned = _abandoned_carts(ports, plan, carts)
    needed = _still_needed(ports, plan, abandoned)
    plan.needing_effect = len(needed)
    # with nothing left to do, no contact, company or line item is read at all
    if not needed:
        return plan
    ports.progress(f"{FUNCTION}: reading {len(needed)} abandoned carts")
    contacts = _contacts(ports, [cart.id for cart, *_ in needed])
    acting = _drop_unreachable_reminders(ports, plan, needed, contacts)
    _add_actions(ports, plan, acting, contacts)
    return plan


def _abandoned_carts(ports: Ports, plan: _Plan, carts: Sequence[Cart]) -> list[tuple[Cart, float]]:
    """The abandoned carts not checked out since, with their EUR totals; the others are counted by reason."""
    abandoned: list[tuple[Cart, float]] = []
    for cart in carts:
        verdict = rules_of.assess(cart, plan.instant, ports.settings.cart)
        if verdict.abandoned and verdict.eur_total is not None:
            abandoned.append((cart, verdict.eur_total))
        elif verdict.reason == "no_rate":
            plan.skipped["no_rate"] += 1
        elif verdict.reason is not None:
            plan.not_abandoned[verdict.reason] += 1
    cancelled = _checked_out_since(ports, [cart for cart, _ in abandoned])
    plan.not_abandoned["checked_out"] += len(cancelled)
    abandoned = [(cart, eur) for cart, eur in abandoned if cart.id not in cancelled]
    plan.abandoned = len(abandoned)
    plan.value_at_stake = round(sum(eur for _, eur in abandoned), 2)
    return abandoned


def _still_needed(ports: Ports, plan: _Plan, abandoned: Sequence[tuple[Cart, float]]) -> list[_Needed]:
    """What is still to do for each cart version, from the state store alone (nothing is read from HubSpot)."""
    plan.documents = ports.state.get_documents(CARTS, [cart.id for cart, _ in abandoned])
    needed: list[_Needed] = []
    for cart, eur in abandoned:
        document = plan.documents.setdefault(cart.id, {})
        remind = _reminder_needed(ports, plan, cart, document)
        alert = _alert_needed(ports, plan, cart, eur, document)
        if remind or alert:
            needed.append((cart, eur, remind, alert))
    return needed


def _reminder_needed(ports: Ports, plan: _Plan, cart: Cart, document: Mapping[str, Any]) -> bool:
    version = rules_of.version(cart)
    reminded = document.get("reminded_version") == version
    # the key is the truth when the document lags it (a run stopped before writing it): heal the document
    if not reminded and _is_done(ports, rules_of.reminder_key(cart)):
        reminded = True
        plan.healed.setdefault(cart.id, {})["reminded_version"] = version
    if reminded:
        plan.already_reminded += 1
        return False
    if not rules_of.reminder_allowed(_reminded_at(document), plan.instant, ports.settings.cart):
        plan.skipped["cooldown"] += 1
        return False
    return True


def _alert_needed(ports: Ports, plan: _Plan, cart: Cart, eur: float, document: Mapping[str, Any]) -> bool:
    if not rules_of.alert_due(eur, ports.settings.cart):
        return False
    version = rules_of.version(cart)
    if document.get("alerted_version") == version:
        plan.already_alerted += 1
        return False
    # as for the reminder: both keys done means the alert went out, whatever the document says
    if _is_done(ports, rules_of.alert_task_key(cart)) and _is_done(ports, rules_of.notify_key(cart)):
        plan.already_alerted += 1
        plan.healed.setdefault(cart.id, {})["alerted_version"] = version
        return False
    return True


def _drop_unreachable_reminders(
    ports: Ports, plan: _Plan, needed: Sequence[_Needed], contacts: Mapping[str, Contact]
) -> list[_Needed]:
    """The carts still needing something once reminders without a contact, or without consent, are dropped."""
    consent = ConsentPolicy.from_settings(ports.settings)
    acting: list[_Needed] = []
    for cart, eur, remind, alert in needed:
        contact = contacts.get(cart.id)
        if remind and contact is None:
            plan.skipped["no_contact"] += 1
            remind = False
        elif remind and contact is not None and consent_refusal(contact, consent) is not None:
            plan.skipped["no_consent"] += 1  # the owner alert, if any, still goes
            remind = False
        if remind or alert:
            acting.append((cart, eur, remind, alert))
    return acting


def _add_actions(ports: Ports, plan: _Plan, acting: Sequence[_Needed], contacts: Mapping[str, Contact]) -> None:
    companies, lines_of = _companies_and_lines(ports, [cart.id for cart, *_ in acting])
    assistant = ports.schema.sales_assistant.id
    for cart, eur, remind, alert in acting:
        company = companies.get(cart.id)
        if company is None:
            plan.skipped["no_company"] += 1
            continue
        contact = contacts.get(cart.id)
        lines = lines_of.get(cart.id, [])
        if remind and contact is not None:
            email = rules_of.reminder_email(cart, lines, company, contact, ports.settings.cart)
            plan.actions.append(email)
            plan.reminders[email.key] = cart
        if alert:
            alert_actions = rules_of.alert_actions(
                cart,
                lines,
                company,
                contact,
                eur,
                plan.instant,
                owner_id=company.owner_id or assistant,
                rules=ports.settings.cart,
                timezone=ports.settings.timezone,
                calendar=ports.settings.calendar.business_calendar(),
            )
            plan.actions.extend(alert_actions)
            plan.alerts[cart.id] = (cart, tuple(a.key for a in alert_actions))


def _record(ports: Ports, plan: _Plan, report: ExecutionReport) -> None:
    """What went out, per cart: the reminder's instant and version (only for an email known to have gone out),
    and the version whose task and alert both exist; and the versions found done by key lookup, so the next hour
    reads them from here."""
    changed: dict[str, dict[str, Any]] = {
        cart_id: {**(plan.documents.get(cart_id) or {}), **fields} for cart_id, fields in plan.healed.items()
    }
    for key, cart in plan.reminders.items():
        if (report.results.get(key) or {}).get("message_id"):
            document = changed.setdefault(cart.id, dict(plan.documents.get(cart.id) or {}))
            document.update(reminded_at=plan.instant.isoformat(), reminded_version=rules_of.version(cart))
    for cart, keys in plan.alerts.values():
        if all("id" in (report.results.get(key) or {}) for key in keys):
            document = changed.setdefault(cart.id, dict(plan.documents.get(cart.id) or {}))
            document["alerted_version"] = rules_of.version(cart)
    if changed:
        ports.state.put_documents(CARTS, changed)


# --- entry points ----------------------------------------------------------------------------------------------


def _summary(plan: _Plan, report: ExecutionReport | None, dry_run: bool, crm_calls: int) -> dict[str, Any]:
    planned = Counter(a.type for a in plan.actions)
    done: Mapping[str, int] = report.outcomes if report else {}
    if dry_run:
        reminded, alerted = planned.get("send_email", 0), planned.get("create_task", 0)
    else:
        reminded = done.get("sent:send_email", 0) + done.get("reconciled:send_email", 0)
        alerted = done.get("created:create_task", 0)
    summary: dict[str, Any] = {
        "carts_seen": plan.seen,
        "abandoned": plan.abandoned,
        "reminded": reminded,
        "owners_alerted": alerted,
        "value_at_stake": plan.value_at_stake,
        "skipped": {reason: plan.skipped.get(reason, 0) for reason in rules_of.SKIP_REASONS},
        "not_abandoned": {reason: plan.not_abandoned.get(reason, 0) for reason in rules_of.NOT_ABANDONED},
        "already_reminded": plan.already_reminded,
        "already_alerted": plan.already_alerted,
        "needing_effect": plan.needing_effect,
        "planned": dict(sorted(planned.items())),
        "crm_calls": crm_calls,
    }
    if report is not None:
        summary["refused_emails"] = {
            k.split(":", 1)[0]: n for k, n in sorted(report.outcomes.items()) if k.startswith("refused_")
        }
        summary["effects"] = report.as_dict()
    return summary


def run(request: Request, ports: Ports) -> RunResult:
    zone = ports.settings.timezone
    instant = rules_of.run_instant(request.as_of, request.at, ports.clock.now(), zone)
    as_of: date = request.as_of or instant.astimezone(ZoneInfo(zone)).date()
    calls_before = ports.crm.calls_made
    ports.progress(f"{FUNCTION}: searching carts changed since {rules_of.search_since(instant, ports.settings.cart)}")
    carts = _changed_carts(ports, instant)
    plan = _plan(ports, carts, instant)
    report: ExecutionReport | None = None
    if not request.dry_run:
        report = EffectExecutor(ports).execute(plan.actions) if plan.actions else ExecutionReport()
        _record(ports, plan, report)
    summary = _summary(plan, report, request.dry_run, ports.crm.calls_made - calls_before)
    ports.progress(
        f"{FUNCTION}: {summary['carts_seen']} carts, {summary['abandoned']} abandoned, "
        f"{summary['reminded']} reminded, {summary['owners_alerted']} owners alerted"
    )
    return RunResult(
        function=FUNCTION,
        as_of=as_of,
        dry_run=request.dry_run,
        actions=plan.actions,
        summary=summary,
        report=report or ExecutionReport(),
    )


def _about_carts(event: Mapping[str, Any]) -> bool:
    """Carts come as `cart.*` events, or as generic `object.*` ones that name the carts' object type."""
    return str(event.get("subscriptionType") or "cart.").split(".", 1)[0] in ("cart", "object") and (
        str(event.get("objectTypeId") or CARTS_TYPE_ID) == CARTS_TYPE_ID
    )


def webhook(events: list[dict[str, Any]], ports: Ports) -> RunResult:
    """Cart changes pushed by HubSpot. Events only name carts: each is read again, and one now checked out is
    recorded at once, so no run reminds anyone of it, even one reading an older version from the search."""
    as_of = ports.clock.today()
    calls_before = ports.crm.calls_made
    cart_ids = object_ids(events, about=_about_carts)
    records = ports.crm.read_batch("carts", cart_ids, CART_PROPERTIES) if cart_ids else []
    checked_out = {}
    for record in records:
        cart = to_cart(record)
        if cart is not None and rules_of.cart_state(cart.status, ports.settings.cart) == "checked_out":
            checked_out[cart.id] = {"modified_at": cart.modified_at.isoformat(), "status": cart.status or ""}
    if checked_out:
        stored = ports.state.get_documents(CHECKOUTS, sorted(checked_out))
        # a redelivered or out-of-order event never moves the recorded version back
        newer = {
            cart_id: document
            for cart_id, document in checked_out.items()
            if _later(document.get("modified_at"), (stored.get(cart_id) or {}).get("modified_at"))
        }
        if newer:
            ports.state.put_documents(CHECKOUTS, newer)
    summary = {
        "events": len(events),
        "carts": len(records),
        "checked_out": len(checked_out),
        "crm_calls": ports.crm.calls_made - calls_before,
    }
    return RunResult(function=FUNCTION, as_of=as_of, dry_run=False, actions=[], summary=summary)


def _later(candidate: str | None, recorded: str | None) -> bool:
    new, old = parse_instant(candidate), parse_instant(recorded)
    return new is not None and (old is None or new > old)
