"""The company's closing days in the due dates Flywheel sets: recontact tasks, cart alerts, the Wake Up pace.

Around 4 October 2027, a Monday and San Francesco (a national holiday again from 2026), named explicitly.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import CalendarRules, CartRules, ColdRules, Settings
from flywheel.domain import carts
from flywheel.domain.calendar import ITALIAN, BusinessCalendar
from flywheel.domain.carts import Cart
from flywheel.domain.models import Company, CreateTask
from flywheel.domain.segments import QueuedCompany, pace_wakeup_queue, recontact_task_action, second_reminder_on
from flywheel.runner import SETTINGS_ERRORS, settings_error
from flywheel.services import cart_watch, cold
from flywheel.services.context import Ports
from tests.fakes import mail_settings

ROME = ZoneInfo("Europe/Rome")
SAN_FRANCESCO_2027 = date(2027, 10, 4)
THURSDAY_BEFORE = date(2027, 9, 30)
FRIDAY_BEFORE = date(2027, 10, 1)
# the company also closes the day after San Francesco, every year
BRIDGE = BusinessCalendar.with_closing_days(["10-05"])


def nine(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), ROME)


def quiet_company(as_of: date) -> Company:
    return Company(
        id="101", name="Rossi Informatica S.r.l.", last_purchase_date=as_of - timedelta(days=150), sirank=8000
    )


def test_4_october_2027_is_a_monday_and_a_national_holiday() -> None:
    assert SAN_FRANCESCO_2027.weekday() == 0
    assert not ITALIAN.is_business_day(SAN_FRANCESCO_2027)


def test_a_recontact_task_set_on_30_september_2027_skips_4_october() -> None:
    # Thu 30 Sep: Fri 1 Oct (1), weekend, Mon 4 San Francesco, Tue 5 (2), Wed 6 (3)
    task = recontact_task_action(
        quiet_company(THURSDAY_BEFORE),
        THURSDAY_BEFORE,
        ColdRules(),
        owner_id="7",
        timezone="Europe/Rome",
        calendar=ITALIAN,
    )
    assert task.due == nine(date(2027, 10, 6))


def test_a_recontact_task_set_on_30_september_2027_skips_the_company_bridge_too() -> None:
    # closed Tue 5 as well: Fri 1 (1), Wed 6 (2), Thu 7 (3)
    task = recontact_task_action(
        quiet_company(THURSDAY_BEFORE),
        THURSDAY_BEFORE,
        ColdRules(),
        owner_id="7",
        timezone="Europe/Rome",
        calendar=BRIDGE,
    )
    assert task.due == nine(date(2027, 10, 7))
    # and task 2 comes 5 business days after task 1: Fri 1, Wed 6, Thu 7, Fri 8, Mon 11
    assert second_reminder_on(THURSDAY_BEFORE, ColdRules(), calendar=BRIDGE) == date(2027, 10, 11)
    assert second_reminder_on(THURSDAY_BEFORE, ColdRules(), calendar=ITALIAN) == date(2027, 10, 8)


def big_cart(instant: datetime) -> Cart:
    return Cart(
        id="900",
        status="open",
        total=3200.0,
        currency="EUR",
        modified_at=instant - timedelta(hours=30),
        url="https://shop.sicomputer.it/carrello/900",
        name="Carrello C900",
    )


@pytest.mark.parametrize(
    ("calendar", "due"),
    [(ITALIAN, date(2027, 10, 5)), (BRIDGE, date(2027, 10, 6))],
    ids=["national", "with-the-bridge"],
)
def test_a_cart_alert_on_friday_1_october_2027_falls_due_after_4_october(calendar: BusinessCalendar, due: date) -> None:
    instant = datetime.combine(FRIDAY_BEFORE, time(18, 30), ROME)
    company = Company(id="101", name="Rossi Informatica S.r.l.")

    actions = carts.alert_actions(
        big_cart(instant),
        [],
        company,
        None,
        3200.0,
        instant,
        owner_id="7",
        rules=CartRules(),
        timezone="Europe/Rome",
        calendar=calendar,
    )
    [task] = [a for a in actions if isinstance(a, CreateTask)]
    assert task.due == nine(due)


def test_the_wake_up_pace_creates_no_deal_on_a_closing_day_and_the_backlog_clears_later() -> None:
    queued = [QueuedCompany(Company(id=str(n), name=f"Azienda {n}"), float(n)) for n in range(100)]
    closed = BusinessCalendar.with_closing_days(["2027-10-05..2027-10-08"])

    on_closing_day = pace_wakeup_queue(queued, date(2027, 10, 5), ColdRules(), created_today=0, calendar=closed)
    assert on_closing_day.today == [] and on_closing_day.backlog == 100

    friday = pace_wakeup_queue(queued, FRIDAY_BEFORE, ColdRules(), created_today=0, calendar=closed)
    # 40 today, 60 left: two more business days, Mon 4 (holiday) and Tue 5..Fri 8 (closed) skipped
    assert len(friday.today) == 40 and friday.backlog_business_days == 2
    assert friday.backlog_cleared_by == date(2027, 10, 12)
    national = pace_wakeup_queue(queued, FRIDAY_BEFORE, ColdRules(), created_today=0, calendar=ITALIAN)
    assert national.backlog_cleared_by == date(2027, 10, 6)


# --- configuration ---------------------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("FLYWHEEL_", "HUBSPOT_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_closing_days_come_from_the_environment_as_a_json_list(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("FLYWHEEL_CALENDAR__CLOSING_DAYS", '["2027-10-05", "2027-08-09..2027-08-20", "12-24"]')

    calendar = Settings().calendar.business_calendar()

    assert not calendar.is_business_day(date(2027, 10, 5))
    assert not calendar.is_business_day(date(2027, 8, 16))
    assert not calendar.is_business_day(date(2030, 12, 24))
    assert calendar.is_business_day(date(2027, 10, 6))


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ('["2027-02-29"]', "'2027-02-29' names no real day"),
        ('["2027-08-20..2027-08-09"]', "ends before it starts"),
        ('["Natale"]', "'Natale' is not a date"),
        ('"12-24"', "should be a valid list"),
    ],
)
def test_a_bad_closing_day_is_a_configuration_error_naming_the_variable(
    clean_environment: pytest.MonkeyPatch, raw: str, named: str
) -> None:
    clean_environment.setenv("FLYWHEEL_CALENDAR__CLOSING_DAYS", raw)

    with pytest.raises(SETTINGS_ERRORS) as refused:
        Settings()
    message = str(settings_error(refused.value))

    assert message.startswith("invalid setting FLYWHEEL_CALENDAR__CLOSING_DAYS: ")
    assert named in message


# --- through the services: the settings reach the due dates ----------------------------------------------------


def ports_on(day: date, at: time, closing_days: list[str], tmp_path: Path) -> tuple[Ports, MemoryCrm]:
    clock = FixedClock.on(day, at=at)
    crm = MemoryCrm.with_default_schema(now=clock.now)
    settings = mail_settings(calendar=CalendarRules(closing_days=closing_days))
    ports = Ports(
        crm=crm, state=MemoryStateStore(), mailer=OutboxMailer(tmp_path / "outbox"), clock=clock, settings=settings
    )
    return ports, crm


@pytest.mark.parametrize(
    ("closing_days", "due"), [([], date(2027, 10, 6)), (["10-05"], date(2027, 10, 7))], ids=["national", "bridge"]
)
def test_cold_segment_dates_the_recontact_task_by_the_company_calendar(
    tmp_path: Path, closing_days: list[str], due: date
) -> None:
    ports, crm = ports_on(THURSDAY_BEFORE, time(6, 0), closing_days, tmp_path)
    last = THURSDAY_BEFORE - timedelta(days=150)
    company_id = crm.add_company("Rossi Informatica S.r.l.", last_purchase_date=last.isoformat(), sirank="8000")
    crm.add_order(company_id, 1200.0, last)

    cold.run(cold.Request(), ports)

    [task] = [t for t in crm.all("tasks") if (t.properties.get("hs_task_subject") or "").startswith("Ricontattare")]
    assert task.properties["hs_timestamp"] == nine(due).isoformat()


@pytest.mark.parametrize(
    ("closing_days", "due"), [([], date(2027, 10, 5)), (["2027-10-05"], date(2027, 10, 6))], ids=["national", "bridge"]
)
def test_cart_watch_dates_the_owner_task_by_the_company_calendar(
    tmp_path: Path, closing_days: list[str], due: date
) -> None:
    ports, crm = ports_on(FRIDAY_BEFORE, time(18, 30), closing_days, tmp_path)
    company_id = crm.add_company("Rossi Informatica S.r.l.")
    contact_id = crm.add_contact(company_id, "anna.bianchi@example.it", first_name="Anna", last_name="Bianchi")
    modified = ports.clock.now() - timedelta(hours=30)
    crm.add(
        "carts",
        {
            "hs_cart_name": "Carrello C900",
            "hs_external_status": "open",
            "hs_total_price": "3200.00",
            "hs_currency_code": "EUR",
            "hs_cart_url": "https://shop.sicomputer.it/carrello/900",
            "hs_lastmodifieddate": modified.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
        {"companies": [company_id], "contacts": [contact_id]},
    )

    cart_watch.run(cart_watch.Request.model_validate({}), ports)

    [task] = [t for t in crm.all("tasks") if (t.properties.get("hs_task_subject") or "").startswith("Carrello")]
    assert task.properties["hs_timestamp"] == nine(due).isoformat()
