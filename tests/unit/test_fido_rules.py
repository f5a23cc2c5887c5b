"""The fido_push rules alone: who is listed, in what order, and which week a digest belongs to."""

from __future__ import annotations

from datetime import date

import pytest

from flywheel.config import FidoRules
from flywheel.domain import fido
from flywheel.domain.calendar import ITALIAN, BusinessCalendar
from flywheel.domain.models import Company

RULES = FidoRules()


def company(company_id: str, credit: float | None, sirank: int | None = None) -> Company:
    return Company(id=company_id, name=f"Azienda {company_id}", owner_id="7", available_credit=credit, sirank=sirank)


def test_ties_on_credit_go_to_the_higher_sirank_then_the_lower_id() -> None:
    ranked = fido.ranked([company("3", 5000.0, 10), company("12", 5000.0, 10), company("5", 5000.0, 90)])
    assert [c.id for c in ranked] == ["5", "3", "12"]


def test_the_first_reason_that_keeps_a_company_out_is_named() -> None:
    def reason(c: Company, **flags: bool) -> str | None:
        options = {"has_open_wakeup": False, "has_open_order_deal": False, **flags}
        return fido.exclusion(c, RULES, excluded_categories=["end_user"], **options)

    assert reason(company("1", 999.99)) == "below_threshold"
    assert reason(Company(id="2", name="x", available_credit=5000.0)) == "no_owner"
    pa = Company(id="3", name="x", owner_id="7", category="end_user", available_credit=5000.0)
    assert reason(pa, has_open_wakeup=True) == "category"
    assert reason(company("4", 5000.0), has_open_wakeup=True, has_open_order_deal=True) == "open_wakeup"
    assert reason(company("5", 5000.0), has_open_order_deal=True) == "open_order_deal"
    assert reason(company("6", 1000.0)) is None


@pytest.mark.parametrize(
    ("day", "week"),
    [(date(2026, 11, 30), "2026-W49"), (date(2026, 12, 28), "2026-W53"), (date(2027, 1, 4), "2027-W01")],
)
def test_a_digest_belongs_to_its_iso_week(day: date, week: str) -> None:
    assert fido.iso_week(day) == week
    assert fido.digest_key("42", day) == f"fido_push:owner-42:{week}"


def test_a_digest_is_due_the_next_business_day_when_monday_is_a_holiday() -> None:
    easter_monday = date(2027, 3, 29)
    task = fido.digest_task("7", [company("1", 5000.0)], easter_monday, timezone="Europe/Rome", calendar=ITALIAN)
    assert task.due is not None and task.due.date() == date(2027, 3, 30)
    assert task.subject == "Fido disponibile: 1 cliente da sentire (settimana 13)"


def test_a_digest_waits_for_the_company_to_reopen_after_its_closing_days() -> None:
    closed = BusinessCalendar.with_closing_days(["2027-10-05..2027-10-06"])
    saint_francis = date(2027, 10, 4)  # a national holiday again from 2026, a Monday in 2027

    task = fido.digest_task("7", [company("1", 5000.0)], saint_francis, timezone="Europe/Rome", calendar=closed)

    assert task.due is not None and task.due.date() == date(2027, 10, 7)


def test_no_digest_without_companies() -> None:
    with pytest.raises(ValueError):
        fido.digest_task("7", [], date(2026, 11, 30), timezone="Europe/Rome", calendar=ITALIAN)
