"""The cold_segment rules at their edges: pure decisions, no ports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.config import ColdRules
from flywheel.domain.calendar import is_business_day
from flywheel.domain.italian import euro
from flywheel.domain.models import Company, Contact
from flywheel.domain.segments import (
    WakeupDeal,
    already_in_wakeup,
    appointment_key,
    appointment_task_action,
    cold_verdict,
    data_care_checklist,
    owner_was_active,
    r12,
    reactivated,
    recontact_due,
    recontact_task_action,
    stale_new_deal,
    wakeup_deal_key,
    wakeup_description,
)

RULES = ColdRules()
AS_OF = date(2026, 11, 30)
any_day = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


def company(days_quiet: int | None, *, as_of: date = AS_OF, **fields: object) -> Company:
    last = None if days_quiet is None else as_of - timedelta(days=days_quiet)
    values: dict[str, object] = {"id": "101", "name": "Rossi Informatica S.r.l.", "category": "reseller"}
    values.update(fields)
    return Company(last_purchase_date=last, **values)  # type: ignore[arg-type]


def wakeup(*, closed: bool = False, created_on: date | None = None, stage: str = "Da contattare") -> WakeupDeal:
    return WakeupDeal(id="5001", company_id="101", stage_label=stage, is_closed=closed, created_on=created_on)


# --- the cold window ---------------------------------------------------------------------------------------------


@given(any_day)
def test_179_days_quiet_is_not_cold_and_180_is(as_of: date) -> None:
    assert not cold_verdict(company(179, as_of=as_of), as_of, RULES, has_open_sales_deal=False).in_segment
    verdict = cold_verdict(company(180, as_of=as_of), as_of, RULES, has_open_sales_deal=False)
    assert verdict.in_segment and verdict.gets_wakeup_deal and verdict.days == 180


@given(any_day)
def test_1460_days_quiet_is_still_cold_and_1461_is_lost(as_of: date) -> None:
    assert cold_verdict(company(1460, as_of=as_of), as_of, RULES, has_open_sales_deal=False).gets_wakeup_deal
    assert not cold_verdict(company(1461, as_of=as_of), as_of, RULES, has_open_sales_deal=False).in_segment


@given(any_day, st.integers(min_value=0, max_value=3000))
def test_the_cold_window_is_inclusive_at_both_ends(as_of: date, days: int) -> None:
    verdict = cold_verdict(company(days, as_of=as_of), as_of, RULES, has_open_sales_deal=False)
    assert verdict.in_segment == (180 <= days <= 1460)


def test_a_company_that_never_ordered_is_not_cold() -> None:
    verdict = cold_verdict(company(None), AS_OF, RULES, has_open_sales_deal=False)
    assert not verdict.in_segment and verdict.days is None


def test_an_order_in_the_future_of_as_of_is_not_cold() -> None:
    assert not cold_verdict(company(-3), AS_OF, RULES, has_open_sales_deal=False).in_segment


# --- exclusions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["public_administration", "end_user"])
def test_public_administration_and_end_users_are_excluded_by_category(category: str) -> None:
    verdict = cold_verdict(company(400, category=category), AS_OF, RULES, has_open_sales_deal=False)
    assert verdict.in_segment and verdict.exclusion == "category" and not verdict.gets_wakeup_deal


@pytest.mark.parametrize("category", ["reseller", "system_integrator", "other", None])
def test_other_categories_and_a_missing_one_are_called(category: str | None) -> None:
    verdict = cold_verdict(company(400, category=category), AS_OF, RULES, has_open_sales_deal=False)
    assert verdict.gets_wakeup_deal


def test_an_open_deal_in_an_order_pipeline_excludes_the_company() -> None:
    verdict = cold_verdict(company(400), AS_OF, RULES, has_open_sales_deal=True)
    assert verdict.exclusion == "open_deal"


def test_the_category_reason_wins_over_an_open_deal() -> None:
    verdict = cold_verdict(company(400, category="end_user"), AS_OF, RULES, has_open_sales_deal=True)
    assert verdict.exclusion == "category"


def test_an_open_wakeup_deal_excludes_the_company_whenever_it_was_opened() -> None:
    old_open = wakeup(created_on=AS_OF - timedelta(days=900))
    verdict = cold_verdict(company(400), AS_OF, RULES, has_open_sales_deal=False, wakeup_deals=[old_open])
    assert verdict.exclusion == "already_in_wakeup"


def test_a_wakeup_deal_closed_in_this_quiet_spell_excludes_the_company() -> None:
    lost = wakeup(closed=True, stage="Non interessato", created_on=AS_OF - timedelta(days=100))
    verdict = cold_verdict(company(400), AS_OF, RULES, has_open_sales_deal=False, wakeup_deals=[lost])
    assert verdict.exclusion == "already_in_wakeup"


def test_a_wakeup_deal_closed_before_the_last_order_belongs_to_an_earlier_spell() -> None:
    earlier = wakeup(closed=True, stage="Riattivato", created_on=AS_OF - timedelta(days=700))
    verdict = cold_verdict(company(400), AS_OF, RULES, has_open_sales_deal=False, wakeup_deals=[earlier])
    assert verdict.gets_wakeup_deal


@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=2000))
def test_a_closed_wakeup_deal_counts_only_when_opened_on_or_after_the_last_order(quiet: int, opened_ago: int) -> None:
    last_order = AS_OF - timedelta(days=quiet)
    deal = wakeup(closed=True, created_on=AS_OF - timedelta(days=opened_ago))
    assert already_in_wakeup(last_order, [deal]) == (opened_ago <= quiet)


# --- R12, description and the data-care checklist ----------------------------------------------------------------


def test_r12_sums_the_orders_of_the_last_365_days_only() -> None:
    orders = [
        (AS_OF, 100.0),
        (AS_OF - timedelta(days=364), 200.0),
        (AS_OF - timedelta(days=365), 400.0),
        (AS_OF + timedelta(days=1), 800.0),
    ]
    assert r12(orders, AS_OF) == 300.0


def test_the_checklist_lists_what_the_record_lacks_in_italian() -> None:
    contacts = [
        Contact(id="1", email=None, first_name="Anna", last_name="Neri", legal_basis="Legitimate interest"),
        Contact(id="2", email="luca@example.it", first_name="Luca", legal_basis=None),
    ]
    checklist = data_care_checklist(company(400, province=None, phone=None), contacts)
    assert checklist == [
        "Anna Neri: email mancante",
        "Luca: base giuridica del trattamento mancante",
        "Numero di telefono mancante",
        "Provincia mancante",
    ]


def test_a_complete_record_has_an_empty_checklist_and_a_company_without_contacts_says_so() -> None:
    contact = Contact(id="1", email="a@example.it", legal_basis="Consent", phone="+39 02 1234567")
    assert data_care_checklist(company(400, province="MI"), [contact]) == []
    assert data_care_checklist(company(400, province="MI", phone="02 1"), []) == [
        "Nessun contatto associato all'azienda"
    ]


def test_the_description_carries_last_order_r12_sirank_owner_and_checklist() -> None:
    text = wakeup_description(
        company(400, sirank=3250),
        AS_OF,
        revenue_12m=1234.5,
        owner_name="Marco Rossi",
        checklist=["Provincia mancante"],
    )
    last = AS_OF - timedelta(days=400)
    assert f"Ultimo ordine: {last:%d/%m/%Y}" in text
    assert "R12): 1.234,50 €" in text
    assert "SiRank: 3.250" in text
    assert "Commerciale dell'azienda: Marco Rossi" in text
    assert "Dati da completare:\n- Provincia mancante" in text


def test_euros_are_written_the_italian_way() -> None:
    assert euro(1234567.891) == "1.234.567,89 €"
    assert euro(0) == "0,00 €"


def test_the_wakeup_key_names_the_quiet_spell() -> None:
    assert wakeup_deal_key("101", date(2025, 3, 1)) == "cold_segment:101:wakeup:2025-03-01"


# --- recontact ---------------------------------------------------------------------------------------------------


def high_value(days_quiet: int, sirank: int = 6000, as_of: date = AS_OF) -> Company:
    return company(days_quiet, as_of=as_of, sirank=sirank)


def test_sirank_exactly_5000_is_not_high_value_and_5001_is() -> None:
    assert not recontact_due(high_value(200, sirank=5000), AS_OF, RULES, last_task_on=None)
    assert recontact_due(high_value(200, sirank=5001), AS_OF, RULES, last_task_on=None)


def test_a_company_without_sirank_is_never_recontacted() -> None:
    assert not recontact_due(company(200), AS_OF, RULES, last_task_on=None)


@given(any_day)
def test_120_days_quiet_is_too_early_and_121_is_due(as_of: date) -> None:
    assert not recontact_due(high_value(120, as_of=as_of), as_of, RULES, last_task_on=None)
    assert recontact_due(high_value(121, as_of=as_of), as_of, RULES, last_task_on=None)


@given(any_day)
def test_364_days_quiet_is_due_and_365_is_too_late(as_of: date) -> None:
    assert recontact_due(high_value(364, as_of=as_of), as_of, RULES, last_task_on=None)
    assert not recontact_due(high_value(365, as_of=as_of), as_of, RULES, last_task_on=None)


@given(st.integers(min_value=0, max_value=200))
def test_the_90_day_cooldown_since_the_last_recontact_task(days_since_task: int) -> None:
    due = recontact_due(high_value(200), AS_OF, RULES, last_task_on=AS_OF - timedelta(days=days_since_task))
    assert due == (days_since_task >= 90)


@given(any_day)
def test_the_recontact_task_falls_due_three_italian_business_days_later_at_nine(as_of: date) -> None:
    action = recontact_task_action(high_value(200, as_of=as_of), as_of, RULES, owner_id="7", timezone="Europe/Rome")
    assert action.due is not None
    due_day = action.due.date()
    assert is_business_day(due_day)
    business = [as_of + timedelta(days=i) for i in range(1, (due_day - as_of).days + 1)]
    assert sum(is_business_day(d) for d in business) == 3
    assert (action.due.hour, action.due.minute) == (9, 0)
    assert action.owner_id == "7" and action.key == f"cold_segment:101:recontact:{as_of - timedelta(days=200)}"


def test_activity_counts_only_from_the_recontact_task_on() -> None:
    created = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert not owner_was_active(created, [created - timedelta(minutes=1)])
    assert owner_was_active(created, [created - timedelta(days=3), created + timedelta(days=9)])
    assert not owner_was_active(created, [])


# --- Wake Up automations -----------------------------------------------------------------------------------------


def test_an_order_on_or_after_the_opening_of_the_wakeup_deal_reactivates_it() -> None:
    opened = date(2026, 10, 1)
    deal = wakeup(created_on=opened)
    assert reactivated(deal, opened)
    assert not reactivated(deal, opened - timedelta(days=1))
    assert not reactivated(wakeup(closed=True, created_on=opened), opened + timedelta(days=3))


@pytest.mark.parametrize(("days_in_stage", "stale"), [(14, False), (15, True)])
def test_a_deal_left_in_da_contattare_over_14_days_is_stale(days_in_stage: int, stale: bool) -> None:
    deal = wakeup(created_on=AS_OF - timedelta(days=days_in_stage))
    assert stale_new_deal(deal, AS_OF, RULES, new_stage_label="Da contattare") == stale


def test_a_deal_moved_on_from_da_contattare_is_never_stale() -> None:
    deal = wakeup(created_on=AS_OF - timedelta(days=60), stage="Contattato")
    assert not stale_new_deal(deal, AS_OF, RULES, new_stage_label="Da contattare")


def test_the_appointment_task_is_due_at_the_appointment_with_kind_and_notes_in_italian() -> None:
    at = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)  # 15:30 in Rome
    deal = WakeupDeal(
        id="5001",
        company_id="101",
        stage_label="Appuntamento fissato",
        is_closed=False,
        created_on=AS_OF,
        appointment_at=at,
        appointment_kind="teams_call",
        notes="Interessati ai notebook per la scuola",
    )
    action = appointment_task_action(deal, "Rossi Informatica", AS_OF, owner_id="7", timezone="Europe/Rome")
    assert action.due == at and action.owner_id == "7" and action.deal_id == "5001"
    assert action.subject == "Chiamata Teams con Rossi Informatica - 03/12/2026 alle 15:30"
    assert action.body is not None and "Interessati ai notebook per la scuola" in action.body
    assert action.key == appointment_key("101", "5001", at) == "cold_segment:101:appointment:5001:20261203T1430Z"
