"""The cold_segment rules at their edges: pure decisions, no ports."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.config import ColdRules, NurtureRules, SirankRules
from flywheel.domain.calendar import ITALIAN
from flywheel.domain.italian import euro
from flywheel.domain.models import Company, Contact
from flywheel.domain.nurture import is_enrollable
from flywheel.domain.retention import retention_segment
from flywheel.domain.segments import (
    QueuedCompany,
    WakeupDeal,
    after_second_reminder,
    already_in_wakeup,
    appointment_key,
    appointment_task_action,
    cold_verdict,
    data_care_checklist,
    eligibility_update,
    in_recontact_window,
    months_before,
    owner_was_active,
    pace_wakeup_queue,
    priority_value,
    r12,
    reactivated,
    reactivation_on,
    recontact_due,
    recontact_task_action,
    second_reminder_on,
    second_reminder_task_action,
    stale_new_deal,
    wakeup_deal_key,
    wakeup_description,
    wakeup_eligible,
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
def test_180_days_quiet_is_not_cold_yet_and_181_is(as_of: date) -> None:
    assert not cold_verdict(company(180, as_of=as_of), as_of, RULES, has_open_sales_deal=False).in_segment
    verdict = cold_verdict(company(181, as_of=as_of), as_of, RULES, has_open_sales_deal=False)
    assert verdict.in_segment and verdict.gets_wakeup_deal and verdict.days == 181


@given(any_day)
def test_1460_days_quiet_is_still_cold_and_1461_is_lost(as_of: date) -> None:
    assert cold_verdict(company(1460, as_of=as_of), as_of, RULES, has_open_sales_deal=False).gets_wakeup_deal
    assert not cold_verdict(company(1461, as_of=as_of), as_of, RULES, has_open_sales_deal=False).in_segment


@given(any_day, st.integers(min_value=0, max_value=3000))
def test_cold_is_more_than_180_days_and_at_most_1460(as_of: date, days: int) -> None:
    verdict = cold_verdict(company(days, as_of=as_of), as_of, RULES, has_open_sales_deal=False)
    assert verdict.in_segment == (180 < days <= 1460)


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


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 7, 31), 4, date(2026, 3, 31)),
        (date(2026, 6, 30), 4, date(2026, 2, 28)),  # 30 June less 4 months: February has 28 days in 2026
        (date(2028, 6, 30), 4, date(2028, 2, 29)),  # ... and 29 in 2028
        (date(2026, 5, 31), 1, date(2026, 4, 30)),  # the 31st clamped to a 30-day month
        (date(2027, 3, 31), 12, date(2026, 3, 31)),
        (date(2027, 2, 28), 12, date(2026, 2, 28)),
        (date(2028, 2, 29), 12, date(2027, 2, 28)),
        (date(2026, 1, 15), 4, date(2025, 9, 15)),  # across the year
    ],
)
def test_months_before_is_calendar_arithmetic_with_the_month_end_clamped(
    day: date, months: int, expected: date
) -> None:
    assert months_before(day, months) == expected


@given(any_day)
def test_the_recontact_window_excludes_both_month_edges(as_of: date) -> None:
    four, twelve = months_before(as_of, 4), months_before(as_of, 12)
    assert not in_recontact_window(four, as_of, RULES)  # exactly 4 months: not "more than"
    assert in_recontact_window(four - timedelta(days=1), as_of, RULES)
    assert not in_recontact_window(twelve, as_of, RULES)  # exactly 12 months: not "less than"
    assert in_recontact_window(twelve + timedelta(days=1), as_of, RULES)


@given(any_day, st.integers(min_value=0, max_value=500))
def test_the_recontact_window_is_strictly_between_12_and_4_months_back(as_of: date, days: int) -> None:
    last_order = as_of - timedelta(days=days)
    expected = months_before(as_of, 12) < last_order < months_before(as_of, 4)
    assert in_recontact_window(last_order, as_of, RULES) == expected
    assert recontact_due(high_value(days, as_of=as_of), as_of, RULES, last_task_on=None) == expected


@pytest.mark.parametrize("year", [2026, 2027, 2028])
@pytest.mark.parametrize("month", range(1, 13))
def test_on_the_last_day_of_every_month_the_window_edges_are_month_ends_or_the_same_day(year: int, month: int) -> None:
    as_of = date(year, month, calendar.monthrange(year, month)[1])
    latest = months_before(as_of, 4)
    assert latest.day == min(as_of.day, calendar.monthrange(latest.year, latest.month)[1])
    assert not in_recontact_window(latest, as_of, RULES)
    assert in_recontact_window(latest - timedelta(days=1), as_of, RULES)


@given(st.integers(min_value=0, max_value=200))
def test_the_90_day_cooldown_since_the_last_recontact_task(days_since_task: int) -> None:
    due = recontact_due(high_value(200), AS_OF, RULES, last_task_on=AS_OF - timedelta(days=days_since_task))
    assert due == (days_since_task >= 90)


@given(any_day)
def test_the_recontact_task_falls_due_three_italian_business_days_later_at_nine(as_of: date) -> None:
    action = recontact_task_action(
        high_value(200, as_of=as_of), as_of, RULES, owner_id="7", timezone="Europe/Rome", calendar=ITALIAN
    )
    assert action.due is not None
    due_day = action.due.date()
    assert ITALIAN.is_business_day(due_day)
    business = [as_of + timedelta(days=i) for i in range(1, (due_day - as_of).days + 1)]
    assert sum(ITALIAN.is_business_day(d) for d in business) == 3
    assert (action.due.hour, action.due.minute) == (9, 0)
    assert action.owner_id == "7" and action.key == f"cold_segment:101:recontact:{as_of - timedelta(days=200)}"


@given(any_day)
def test_task_2_comes_5_business_days_after_task_1_and_the_email_check_10_days_after(task_on: date) -> None:
    reminder = second_reminder_on(task_on, RULES, calendar=ITALIAN)
    assert ITALIAN.business_days_between(task_on, reminder) == 5 and ITALIAN.is_business_day(reminder)
    assert reactivation_on(task_on, RULES) == task_on + timedelta(days=10)
    email_on = after_second_reminder(task_on, reminder, RULES)
    assert email_on == max(task_on + timedelta(days=10), reminder + timedelta(days=1))
    assert email_on > reminder


def test_around_christmas_5_business_days_pass_the_tenth_day_and_the_email_waits_a_day_for_task_2() -> None:
    task_on = date(2026, 12, 24)  # Thursday; 25-26 December and 1 January are holidays, with two weekends
    reminder = second_reminder_on(task_on, RULES, calendar=ITALIAN)
    assert reminder == date(2027, 1, 4)  # 28, 29, 30, 31 December and 4 January
    assert reactivation_on(task_on, RULES) == date(2027, 1, 3)
    assert after_second_reminder(task_on, reminder, RULES) == date(2027, 1, 5)


def test_the_second_reminder_is_an_italian_task_for_the_owner() -> None:
    spell = AS_OF - timedelta(days=200)
    action = second_reminder_task_action(
        high_value(205),
        spell,
        AS_OF + timedelta(days=5),
        AS_OF,
        RULES,
        owner_id="7",
        timezone="Europe/Rome",
        calendar=ITALIAN,
    )
    assert action.subject == "Secondo promemoria: ricontattare Rossi Informatica S.r.l."
    assert action.key == f"cold_segment:101:recontact2:{spell}"
    assert action.owner_id == "7"
    assert action.body is not None and "email di riattivazione" in action.body


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
    action = appointment_task_action(
        deal, "Rossi Informatica", AS_OF, owner_id="7", timezone="Europe/Rome", calendar=ITALIAN
    )
    assert action.due == at and action.owner_id == "7" and action.deal_id == "5001"
    assert action.subject == "Chiamata Teams con Rossi Informatica - 03/12/2026 alle 15:30"
    assert action.body is not None and "Interessati ai notebook per la scuola" in action.body
    assert action.key == appointment_key("101", "5001", at) == "cold_segment:101:appointment:5001:20261203T1430Z"


# --- CLIENTI FREDDI: wakeup_eligible -----------------------------------------------------------------------------


def test_a_cold_company_is_eligible_even_while_in_wakeup_but_not_when_excluded_or_busy() -> None:
    open_deal = wakeup(created_on=AS_OF - timedelta(days=3))
    in_wakeup = cold_verdict(company(400), AS_OF, RULES, has_open_sales_deal=False, wakeup_deals=[open_deal])
    assert wakeup_eligible(in_wakeup)
    assert not wakeup_eligible(cold_verdict(company(400, category="end_user"), AS_OF, RULES, has_open_sales_deal=False))
    assert not wakeup_eligible(cold_verdict(company(400), AS_OF, RULES, has_open_sales_deal=True))
    assert not wakeup_eligible(cold_verdict(company(100), AS_OF, RULES, has_open_sales_deal=False))


@pytest.mark.parametrize(
    ("stored", "eligible", "written"),
    [
        (None, True, "true"),
        (None, False, None),  # unset reads as false: nothing to write
        ("false", True, "true"),
        ("true", False, "false"),
        ("true", True, None),
        ("false", False, None),
    ],
)
def test_only_a_change_of_wakeup_eligible_is_written(stored: str | None, eligible: bool, written: str | None) -> None:
    update = eligibility_update(company(400, properties={"wakeup_eligible": stored}), eligible, RULES)
    assert (update.properties["wakeup_eligible"] if update else None) == written


# --- the paced Wake Up queue -----------------------------------------------------------------------------------


def queued(company_id: str, value: float, days_quiet: int, as_of: date = AS_OF) -> QueuedCompany:
    return QueuedCompany(company(days_quiet, as_of=as_of, id=company_id), value)


def test_the_queue_takes_the_highest_value_first_then_the_most_recent_last_order() -> None:
    candidates = [
        queued("1", 500.0, 400),
        queued("2", 9000.0, 900),
        queued("3", 500.0, 200),
        queued("4", 7000.0, 300),
    ]
    queue = pace_wakeup_queue(
        candidates, AS_OF, RULES.model_copy(update={"daily_new_deals": 3}), created_today=0, calendar=ITALIAN
    )
    assert [c.id for c in queue.today] == ["2", "4", "3"]
    assert queue.backlog == 1


@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=60), any_day)
def test_at_most_the_daily_pace_on_a_business_day_and_none_on_other_days(
    waiting: int, created_today: int, as_of: date
) -> None:
    candidates = [queued(str(i), float(i % 7), 200 + i % 50, as_of) for i in range(waiting)]
    queue = pace_wakeup_queue(candidates, as_of, RULES, created_today=created_today, calendar=ITALIAN)
    allowance = max(40 - created_today, 0) if ITALIAN.is_business_day(as_of) else 0
    assert len(queue.today) == min(waiting, allowance)
    assert queue.backlog == waiting - len(queue.today)
    assert queue.backlog_business_days == -(-queue.backlog // 40)
    if queue.backlog:
        assert queue.backlog_cleared_by == ITALIAN.add_business_days(as_of, queue.backlog_business_days or 0)
    else:
        assert queue.backlog_cleared_by == as_of


def test_1485_cold_companies_take_38_business_days_after_the_first_40() -> None:
    candidates = [queued(str(i), float(i), 300) for i in range(1485)]
    queue = pace_wakeup_queue(candidates, AS_OF, RULES, created_today=0, calendar=ITALIAN)
    assert len(queue.today) == 40 and queue.backlog == 1445 and queue.backlog_business_days == 37
    assert [c.id for c in queue.today][:2] == ["1484", "1483"]


def test_the_priority_value_is_the_revenue_of_the_last_48_months() -> None:
    orders = [
        (AS_OF, 100.0),
        (months_before(AS_OF, 48) + timedelta(days=1), 200.0),
        (months_before(AS_OF, 48), 400.0),
        (AS_OF + timedelta(days=1), 800.0),
    ]
    assert priority_value(orders, AS_OF, RULES) == 300.0


# --- every function reads "da oltre N giorni" the same way ------------------------------------------------------


@given(any_day)
def test_retention_segments_change_after_days_60_180_and_1460(as_of: date) -> None:
    rules = SirankRules()

    def segment(days: int) -> str:
        return retention_segment(as_of - timedelta(days=days), as_of, rules)

    assert [segment(d) for d in (0, 60, 61, 180, 181, 1460, 1461)] == [
        "active",
        "active",
        "lukewarm",
        "lukewarm",
        "cold",
        "cold",
        "lost",
    ]
    assert retention_segment(None, as_of, rules) == "never"


@given(any_day, st.integers(min_value=0, max_value=2000))
def test_the_cold_segment_the_lukewarm_segment_and_nurture_agree_on_every_day(as_of: date, days: int) -> None:
    last = as_of - timedelta(days=days)
    segment = retention_segment(last, as_of, SirankRules())
    assert (segment == "cold") == cold_verdict(
        company(days, as_of=as_of), as_of, RULES, has_open_sales_deal=False
    ).in_segment
    # nurture enrols from the first lukewarm day, within its 15-day window
    assert is_enrollable(last, as_of, NurtureRules(), backfill=True) == (days > 60)
