"""The cold_segment decisions: who is cold, who gets a recontact task, what the Wake Up pipeline does next.

Pure: every fact (companies, deals, contacts, dates, the portal's ids) is handed in; the results are Actions with
deterministic idempotency keys `cold_segment:<company>:<step>:<period>`. The "period" of the Wake Up deal, the
recontact task and the reactivation emails is the company's last order date: it names one quiet spell, so each
happens once per spell and again only after the customer has bought and gone quiet again.

Boundaries are the company's words: "da oltre N giorni" is more than N days, so a company quiet for exactly 180
days is not cold yet. The recontact window is in calendar months (month arithmetic on dates, a 31st clamped to
the shorter month's last day).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from flywheel.config import ColdRules
from flywheel.domain.calendar import BusinessCalendar
from flywheel.domain.italian import euro, italian_date, italian_number
from flywheel.domain.models import Company, Contact, CreateDeal, CreateTask, MoveDeal, SendEmail, UpdateCompany
from flywheel.domain.retention import days_since

KEY_PREFIX = "cold_segment"

ExclusionReason = Literal["category", "open_deal", "already_in_wakeup"]
EXCLUSION_REASONS: tuple[ExclusionReason, ...] = ("category", "open_deal", "already_in_wakeup")

# the Italian labels of the appointment kinds the assistant records on the Wake Up deal
APPOINTMENT_KIND_LABELS = {"teams_call": "Chiamata Teams", "visit": "Visita"}

# tasks fall due at the start of the working day, business time
TASK_DUE_TIME = time(9, 0)


@dataclass(frozen=True, slots=True)
class WakeupDeal:
    """A deal of the Wake Up pipeline as the rules see it, stage resolved to its label."""

    id: str
    company_id: str | None
    stage_label: str
    is_closed: bool
    created_on: date | None
    # when the deal entered its current stage (HubSpot's hs_date_entered_<stage>), else its creation
    in_stage_since: date | None = None
    appointment_at: datetime | None = None
    appointment_kind: str | None = None
    notes: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ColdVerdict:
    """Whether a company is in the cold segment (by days since its last order) and, if so, what keeps it out."""

    days: int | None
    in_segment: bool
    exclusion: ExclusionReason | None = None

    @property
    def gets_wakeup_deal(self) -> bool:
        return self.in_segment and self.exclusion is None


# --- keys ------------------------------------------------------------------------------------------------------


def wakeup_deal_key(company_id: str, last_order: date) -> str:
    return f"{KEY_PREFIX}:{company_id}:wakeup:{last_order.isoformat()}"


def recontact_key(company_id: str, last_order: date) -> str:
    return f"{KEY_PREFIX}:{company_id}:recontact:{last_order.isoformat()}"


def second_reminder_key(company_id: str, last_order: date) -> str:
    return f"{KEY_PREFIX}:{company_id}:recontact2:{last_order.isoformat()}"


def reactivation_email_key(company_id: str, last_order: date, contact_id: str) -> str:
    return f"{KEY_PREFIX}:{company_id}:reactivation:{last_order.isoformat()}:{contact_id}"


def reactivated_key(company_id: str, deal_id: str) -> str:
    return f"{KEY_PREFIX}:{company_id}:riattivato:{deal_id}"


def appointment_key(company_id: str, deal_id: str, appointment_at: datetime | None) -> str:
    """One owner task per deal and appointment: a rescheduled appointment is a new one and gets its own task."""
    stamp = "senza-data" if appointment_at is None else f"{appointment_at.astimezone(UTC):%Y%m%dT%H%MZ}"
    return f"{KEY_PREFIX}:{company_id}:appointment:{deal_id}:{stamp}"


def reminder_key(company_id: str, deal_id: str) -> str:
    return f"{KEY_PREFIX}:{company_id}:reminder:{deal_id}"


# --- the cold segment ------------------------------------------------------------------------------------------


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier; a day the earlier month lacks (the 31st, 29 February)
    becomes that month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def in_cold_window(days: int | None, rules: ColdRules) -> bool:
    """More than 180 days without an order ("da oltre 180 giorni") and at most 1,460 (four years)."""
    return days is not None and rules.more_than_days < days <= rules.max_days


def already_in_wakeup(last_order: date | None, wakeup_deals: Iterable[WakeupDeal]) -> bool:
    """An open Wake Up deal, or one closed during this quiet spell (created on or after the last order): the
    assistant is on it or has already worked it, so a second deal would only repeat her call."""
    for deal in wakeup_deals:
        if not deal.is_closed:
            return True
        if last_order is not None and deal.created_on is not None and deal.created_on >= last_order:
            return True
    return False


def cold_verdict(
    company: Company,
    as_of: date,
    rules: ColdRules,
    *,
    has_open_sales_deal: bool,
    wakeup_deals: Sequence[WakeupDeal] = (),
) -> ColdVerdict:
    """Cold: last order 181..1,460 days ago. Excluded, first reason wins: a category the assistant
    does not call (public administration, end users), an open deal in an order pipeline, already in Wake Up."""
    days = days_since(company.last_purchase_date, as_of)
    if not in_cold_window(days, rules):
        return ColdVerdict(days=days, in_segment=False)
    if company.category in rules.excluded_categories:
        return ColdVerdict(days=days, in_segment=True, exclusion="category")
    if has_open_sales_deal:
        return ColdVerdict(days=days, in_segment=True, exclusion="open_deal")
    if already_in_wakeup(company.last_purchase_date, wakeup_deals):
        return ColdVerdict(days=days, in_segment=True, exclusion="already_in_wakeup")
    return ColdVerdict(days=days, in_segment=True)


def wakeup_eligible(verdict: ColdVerdict) -> bool:
    """In "CLIENTI FREDDI": cold, of a category the assistant calls, no open deal in the order pipelines. A
    company already in the Wake Up pipeline stays in the list: it is still a cold customer being worked."""
    return verdict.in_segment and verdict.exclusion not in ("category", "open_deal")


def eligibility_update(company: Company, eligible: bool, rules: ColdRules) -> UpdateCompany | None:
    """The `wakeup_eligible` write, only when it changes the value; an unset property reads as false, so the
    first run writes "true" to the cold companies alone, not "false" to every other one."""
    current = (company.properties.get(rules.eligible_property) or "").strip().lower() == "true"
    if current == eligible:
        return None
    return UpdateCompany(company_id=company.id, properties={rules.eligible_property: "true" if eligible else "false"})


# --- the paced Wake Up queue -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedCompany:
    """A company waiting for its Wake Up deal, with what orders the queue: its value, then its last order."""

    company: Company
    value: float

    @property
    def sort_key(self) -> tuple[float, int, int, str]:
        last = self.company.last_purchase_date
        # the highest value first, then the most recent last order, then the id (a stable order)
        return (-self.value, -(last.toordinal() if last else 0), len(self.company.id), self.company.id)


@dataclass(frozen=True, slots=True)
class WakeupQueue:
    """Today's share of the queue and what is left for the next business days."""

    today: list[Company]
    backlog: int
    # business days after as_of it takes to clear the backlog at the daily pace (None: the pace is 0)
    backlog_business_days: int | None
    backlog_cleared_by: date | None


def priority_value(orders: Iterable[tuple[date, float]], as_of: date, rules: ColdRules) -> float:
    """Revenue of the last `priority_revenue_months` calendar months up to as_of (orders after as_of - 48
    months and not after as_of)."""
    since = months_before(as_of, rules.priority_revenue_months)
    return sum(amount for day, amount in orders if since < day <= as_of)


def daily_allowance(as_of: date, rules: ColdRules, *, created_today: int, calendar: BusinessCalendar) -> int:
    """New Wake Up deals still allowed on as_of: the daily pace on a business day of the company's calendar,
    none on others, less what earlier runs of the same day created."""
    if not calendar.is_business_day(as_of):
        return 0
    return max(rules.daily_new_deals - created_today, 0)


def pace_wakeup_queue(
    candidates: Iterable[QueuedCompany],
    as_of: date,
    rules: ColdRules,
    *,
    created_today: int,
    calendar: BusinessCalendar,
) -> WakeupQueue:
    """The most valuable candidates up to today's allowance; the rest is the backlog. The queue is rebuilt from
    the portal every day, so a company that left the cold segment while waiting is simply no longer in it."""
    ordered = sorted(candidates, key=lambda queued: queued.sort_key)
    allowance = daily_allowance(as_of, rules, created_today=created_today, calendar=calendar)
    today = [queued.company for queued in ordered[:allowance]]
    backlog = len(ordered) - len(today)
    if backlog == 0:
        return WakeupQueue(today, 0, 0, as_of)
    if rules.daily_new_deals <= 0:
        return WakeupQueue(today, backlog, None, None)
    days = math.ceil(backlog / rules.daily_new_deals)
    return WakeupQueue(today, backlog, days, calendar.add_business_days(as_of, days))


def r12(orders: Iterable[tuple[date, float]], as_of: date, window_days: int = 365) -> float:
    """Revenue of the last `window_days` days up to as_of: orders 0..window_days-1 days old."""
    return sum(amount for day, amount in orders if 0 <= (as_of - day).days < window_days)


def data_care_checklist(company: Company, contacts: Sequence[Contact]) -> list[str]:
    """What the company's record lacks, in Italian, for the assistant to complete while she calls."""
    missing: list[str] = []
    if not contacts:
        missing.append("Nessun contatto associato all'azienda")
    for contact in contacts:
        name = contact_display_name(contact)
        if not contact.email:
            missing.append(f"{name}: email mancante")
        if not contact.legal_basis:
            missing.append(f"{name}: base giuridica del trattamento mancante")
    if not company.phone and not any(c.phone for c in contacts):
        missing.append("Numero di telefono mancante")
    if not company.province:
        missing.append("Provincia mancante")
    return missing


def wakeup_description(
    company: Company, as_of: date, *, revenue_12m: float, owner_name: str, checklist: Sequence[str]
) -> str:
    last_order = company.last_purchase_date
    days = days_since(last_order, as_of)
    lines = [
        f"Cliente senza ordini da {days} giorni." if days is not None else "Cliente senza ordini.",
        f"Ultimo ordine: {italian_date(last_order) if last_order else 'nessuno'}",
        f"Fatturato ultimi 12 mesi (R12): {euro(revenue_12m)}",
        f"SiRank: {italian_number(company.sirank) if company.sirank is not None else 'non calcolato'}",
        f"Commerciale dell'azienda: {owner_name}",
        "",
    ]
    if checklist:
        lines.append("Dati da completare:")
        lines += [f"- {item}" for item in checklist]
    else:
        lines.append("Dati anagrafici completi.")
    return "\n".join(lines)


def wakeup_deal_action(
    company: Company,
    as_of: date,
    *,
    pipeline_id: str,
    stage_id: str,
    assistant_id: str,
    contact_ids: Sequence[str],
    description: str,
) -> CreateDeal:
    """The Wake Up deal: owned by the sales assistant; the company keeps its own owner."""
    if company.last_purchase_date is None:
        raise ValueError(f"company {company.id} has no last order: it cannot be cold")
    return CreateDeal(
        company_id=company.id,
        key=wakeup_deal_key(company.id, company.last_purchase_date),
        pipeline=pipeline_id,
        stage=stage_id,
        owner_id=assistant_id,
        contact_ids=list(contact_ids),
        properties={"dealname": f"Wake Up - {company.name}", "description": description},
    )


# --- recontact and reactivation --------------------------------------------------------------------------------


def in_recontact_window(last_order: date | None, as_of: date, rules: ColdRules) -> bool:
    """Last order more than 4 and less than 12 calendar months before as_of:
    as_of - 12 months < last order < as_of - 4 months, month arithmetic with the 31st clamped."""
    if last_order is None:
        return False
    earliest = months_before(as_of, rules.recontact_less_than_months)
    latest = months_before(as_of, rules.recontact_more_than_months)
    return earliest < last_order < latest


def recontact_due(company: Company, as_of: date, rules: ColdRules, *, last_task_on: date | None) -> bool:
    """High value gone quiet: SiRank above 5,000 and last order in the recontact window, unless the owner had a
    recontact series for it within the cooldown (counted from its first task)."""
    if company.sirank is None or company.sirank <= rules.recontact_min_sirank:
        return False
    if not in_recontact_window(company.last_purchase_date, as_of, rules):
        return False
    return last_task_on is None or (as_of - last_task_on).days >= rules.recontact_cooldown_days


def second_reminder_on(task_on: date, rules: ColdRules, *, calendar: BusinessCalendar) -> date:
    """When the owner's silence since task 1 earns task 2: 5 business days after task 1."""
    return calendar.add_business_days(task_on, rules.recontact_second_reminder_business_days)


def reactivation_on(task_on: date, rules: ColdRules) -> date:
    """When continued silence sends the reactivation email: 10 calendar days after task 1."""
    return task_on + timedelta(days=rules.reactivation_after_days)


def after_second_reminder(task_on: date, reminded_on: date, rules: ColdRules) -> date:
    """The email check after task 2: 10 days after task 1, and never the day task 2 itself went out (around
    the holidays 5 business days can be 10 calendar days), so the owner always has a day to act on it."""
    return max(reactivation_on(task_on, rules), reminded_on + timedelta(days=1))


def due_at(day: date, timezone: str) -> datetime:
    return datetime.combine(day, TASK_DUE_TIME, tzinfo=ZoneInfo(timezone))


def recontact_task_action(
    company: Company,
    as_of: date,
    rules: ColdRules,
    *,
    owner_id: str | None,
    timezone: str,
    calendar: BusinessCalendar,
) -> CreateTask:
    if company.last_purchase_date is None:
        raise ValueError(f"company {company.id} has no last order")
    days = days_since(company.last_purchase_date, as_of)
    due = due_at(calendar.add_business_days(as_of, rules.recontact_due_business_days), timezone)
    body = (
        f"{company.name} (SiRank {italian_number(company.sirank or 0)}) non ordina da {days} giorni: "
        f"ultimo ordine il {italian_date(company.last_purchase_date)}.\n"
        "Registra un'attività sull'azienda (chiamata, email, riunione, nota o attività completata). "
        f"Senza attività, fra {rules.recontact_second_reminder_business_days} giorni lavorativi riceverai un "
        f"secondo promemoria e il {italian_date(reactivation_on(as_of, rules))} i suoi contatti riceveranno "
        "l'email di riattivazione."
    )
    return CreateTask(
        company_id=company.id,
        key=recontact_key(company.id, company.last_purchase_date),
        owner_id=owner_id,
        subject=f"Ricontattare {company.name}: nessun ordine da {days} giorni",
        body=body,
        due=due,
    )


def second_reminder_task_action(
    company: Company,
    spell: date,
    as_of: date,
    task_on: date,
    rules: ColdRules,
    *,
    owner_id: str | None,
    timezone: str,
    calendar: BusinessCalendar,
) -> CreateTask:
    """Task 2 of the series, for the owner who logged nothing since task 1."""
    email_on = after_second_reminder(task_on, as_of, rules)
    body = (
        f"Dal promemoria del {italian_date(task_on)} non risulta alcuna attività su {company.name} "
        f"(ultimo ordine il {italian_date(spell)}).\n"
        f"Se non registri un'attività sull'azienda entro il {italian_date(email_on - timedelta(days=1))}, "
        f"il {italian_date(email_on)} i suoi contatti riceveranno l'email di riattivazione."
    )
    return CreateTask(
        company_id=company.id,
        key=second_reminder_key(company.id, spell),
        owner_id=owner_id,
        subject=f"Secondo promemoria: ricontattare {company.name}",
        body=body,
        due=due_at(calendar.add_business_days(as_of, 1), timezone),
    )


def owner_was_active(task_created_at: datetime, activity_times: Iterable[datetime]) -> bool:
    """Any call, email, meeting, note or completed task logged on the company since the recontact task."""
    return any(moment >= task_created_at for moment in activity_times)


def reactivation_email_actions(
    company: Company,
    spell: date,
    contacts: Sequence[Contact],
    *,
    template: str,
    owner_name: str,
    ecommerce_url: str,
) -> list[SendEmail]:
    """One reactivation email per contact given (the caller passes only consenting ones)."""
    return [
        SendEmail(
            company_id=company.id,
            contact_id=contact.id,
            key=reactivation_email_key(company.id, spell, contact.id),
            template=template,
            context={
                "company_name": company.name,
                "contact_name": contact_display_name(contact, fallback=""),
                "owner_name": owner_name,
                "ecommerce_url": ecommerce_url,
            },
        )
        for contact in contacts
    ]


# --- Wake Up pipeline automations ------------------------------------------------------------------------------


def reactivated(deal: WakeupDeal, last_order: date | None) -> bool:
    """An open Wake Up deal whose company ordered on or after the day the deal was opened."""
    return (
        not deal.is_closed and last_order is not None and deal.created_on is not None and last_order >= deal.created_on
    )


def reactivated_action(deal: WakeupDeal, *, won_stage_id: str) -> MoveDeal:
    return MoveDeal(
        company_id=deal.company_id or "",
        deal_id=deal.id,
        stage=won_stage_id,
        key=reactivated_key(deal.company_id or "", deal.id),
    )


def stale_new_deal(deal: WakeupDeal, as_of: date, rules: ColdRules, *, new_stage_label: str) -> bool:
    """Left in "Da contattare" for more than `stale_new_deal_days` days."""
    since = deal.in_stage_since or deal.created_on
    return (
        not deal.is_closed
        and deal.stage_label == new_stage_label
        and since is not None
        and (as_of - since).days > rules.stale_new_deal_days
    )


def reminder_task_action(
    deal: WakeupDeal,
    company_name: str,
    as_of: date,
    *,
    assistant_id: str,
    timezone: str,
    calendar: BusinessCalendar,
) -> CreateTask:
    since = deal.in_stage_since or deal.created_on
    waited = (as_of - since).days if since else 0
    return CreateTask(
        company_id=deal.company_id or "",
        deal_id=deal.id,
        key=reminder_key(deal.company_id or "", deal.id),
        owner_id=assistant_id,
        subject=f"Da contattare da {waited} giorni: {company_name}",
        body=(
            f'La trattativa Wake Up di {company_name} è nella fase "{deal.stage_label}" da {waited} giorni. '
            "Chiama il cliente o aggiorna la fase."
        ),
        due=due_at(calendar.add_business_days(as_of, 1), timezone),
    )


def appointment_label(kind: str | None) -> str:
    if kind is None:
        return "Appuntamento"
    return APPOINTMENT_KIND_LABELS.get(kind.strip().lower(), kind)


def appointment_task_action(
    deal: WakeupDeal,
    company_name: str,
    as_of: date,
    *,
    owner_id: str | None,
    timezone: str,
    calendar: BusinessCalendar,
) -> CreateTask:
    """A task for the company owner, due at the appointment (or the next business day when it has no date)."""
    zone = ZoneInfo(timezone)
    kind = appointment_label(deal.appointment_kind)
    if deal.appointment_at is not None:
        local = deal.appointment_at.astimezone(zone)
        when = f"{italian_date(local.date())} alle {local:%H:%M}"
        due = deal.appointment_at
    else:
        when = "data da definire"
        due = due_at(calendar.add_business_days(as_of, 1), timezone)
    body_lines = [
        f"L'assistente commerciale ha fissato un appuntamento con {company_name}.",
        f"Tipo: {kind}",
        f"Quando: {when}",
        f"Note dell'assistente: {deal.notes.strip() if deal.notes and deal.notes.strip() else 'nessuna'}",
    ]
    return CreateTask(
        company_id=deal.company_id or "",
        deal_id=deal.id,
        key=appointment_key(deal.company_id or "", deal.id, deal.appointment_at),
        owner_id=owner_id,
        subject=f"{kind} con {company_name} - {when}",
        body="\n".join(body_lines),
        due=due,
    )


# --- Italian formatting ----------------------------------------------------------------------------------------


def contact_display_name(contact: Contact, fallback: str | None = None) -> str:
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    if name:
        return name
    return fallback if fallback is not None else f"Contatto {contact.id}"
