"""The fido_push decisions: which of an owner's customers have unused credit worth a push, in what order.

Pure: the companies (with their available credit, SiRank, last order) and what keeps each out are handed in;
the result is one digest task per owner with the deterministic key `fido_push:owner-<id>:<ISO week>`, so an
owner gets one digest a week however many times the run is triggered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from flywheel.config import FidoRules
from flywheel.domain.calendar import BusinessCalendar
from flywheel.domain.italian import euro, italian_date, italian_number
from flywheel.domain.models import Company, CreateTask

KEY_PREFIX = "fido_push"

TASK_DUE_TIME = time(9, 0)

ExclusionReason = Literal["below_threshold", "no_owner", "category", "open_wakeup", "open_order_deal"]
EXCLUSION_REASONS: tuple[ExclusionReason, ...] = (
    "below_threshold",
    "no_owner",
    "category",
    "open_wakeup",
    "open_order_deal",
)


def exclusion(
    company: Company,
    rules: FidoRules,
    *,
    excluded_categories: Iterable[str],
    has_open_wakeup: bool,
    has_open_order_deal: bool,
) -> ExclusionReason | None:
    """Why a company is left out of the digests (first reason wins), or None when it is listed."""
    if company.available_credit is None or company.available_credit < rules.min_available_credit:
        return "below_threshold"
    if not company.owner_id:
        return "no_owner"
    if company.category in set(excluded_categories):
        return "category"
    if has_open_wakeup:
        return "open_wakeup"
    if has_open_order_deal:
        return "open_order_deal"
    return None


def ranked(companies: Iterable[Company]) -> list[Company]:
    """Most available credit first, then the higher SiRank (none counts as 0), then the company id."""
    return sorted(companies, key=lambda c: (-(c.available_credit or 0.0), -(c.sirank or 0), int_or_text(c.id)))


def int_or_text(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (0, value)


def by_owner(companies: Iterable[Company], rules: FidoRules) -> dict[str, list[Company]]:
    """Each owner's listed companies, ranked, at most `max_companies`; an owner with none has no entry."""
    grouped: dict[str, list[Company]] = defaultdict(list)
    for company in companies:
        if company.owner_id:
            grouped[company.owner_id].append(company)
    return {owner: ranked(listed)[: rules.max_companies] for owner, listed in sorted(grouped.items()) if listed}


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(owner_id: str, day: date) -> str:
    return f"{KEY_PREFIX}:owner-{owner_id}:{iso_week(day)}"


def digest_task(
    owner_id: str, companies: Sequence[Company], as_of: date, *, timezone: str, calendar: BusinessCalendar
) -> CreateTask:
    """The owner's digest, attached to the first company listed, due this morning (or the next business day the
    company is open)."""
    if not companies:
        raise ValueError(f"owner {owner_id} has no company to list: no digest")
    zone = ZoneInfo(timezone)
    week = as_of.isocalendar().week
    lines = [
        "Clienti con fido disponibile su cui spingere le vendite questa settimana "
        "(ordinati per fido disponibile, poi SiRank):",
        "",
    ]
    for position, company in enumerate(companies, start=1):
        last = italian_date(company.last_purchase_date) if company.last_purchase_date else "nessuno"
        sirank = italian_number(company.sirank) if company.sirank is not None else "non calcolato"
        lines.append(
            f"{position}. {company.name} - fido disponibile {euro(company.available_credit or 0.0)} - "
            f"SiRank {sirank} - ultimo ordine {last}"
        )
    count = len(companies)
    noun = "cliente" if count == 1 else "clienti"
    return CreateTask(
        company_id=companies[0].id,
        key=digest_key(owner_id, as_of),
        owner_id=owner_id,
        subject=f"Fido disponibile: {count} {noun} da sentire (settimana {week})",
        body="\n".join(lines),
        due=datetime.combine(calendar.add_business_days(as_of, 0), TASK_DUE_TIME, zone),
    )


def credit_listed(companies: Iterable[Company]) -> float:
    return round(sum(c.available_credit or 0.0 for c in companies), 2)
