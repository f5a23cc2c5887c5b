"""cashback_21st over the sandbox portal (real HTTP through the HubSpot adapter), emails in the outbox, state in
SQLite and in Firestore (emulator): the month of `today` simulated day by day, each day a dry run and then two
real runs, with orders arriving along the way (some at 23:59 and 00:01 Rome time around the month's edges).

The sends the rules define are worked out here from full listings of the portal (every company, contact and
deal), independently of the service's own searches.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.clock import FixedClock
from flywheel.domain.models import CrmRecord
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.ports import AssociationTarget
from flywheel.services import cashback, sirank
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, parse_date, parse_instant, parse_number, to_contact
from tests.fakes import mail_settings

pytestmark = [pytest.mark.sandbox]

ROME = ZoneInfo("Europe/Rome")
COMPANIES = 150


class Month:
    def __init__(self, server: Any, state: Any, work: Path, first: date) -> None:
        self.server = server
        self.settings = mail_settings()
        self.contract = self.settings.portal
        self.crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
        self.clock = FixedClock.on(first, at=time(9, 30))
        self.mailer = OutboxMailer(work / "outbox", now=self.clock.now)
        self.ports = Ports(crm=self.crm, state=state, mailer=self.mailer, clock=self.clock, settings=self.settings)
        self.first = first
        self.last = first.replace(day=calendar.monthrange(first.year, first.month)[1])

    @property
    def today(self) -> date:
        return self.clock.today()

    def go_to(self, day: date, at: time = time(9, 30)) -> None:
        self.clock.set(datetime.combine(day, at, ROME))
        self.server.store.clock.pin(self.clock.now())

    def listing(self, object_type: str, properties: Sequence[str], associations: Sequence[str] = ()) -> list[CrmRecord]:
        pages = self.crm.list_pages(object_type, properties, associations=associations)
        return [record for page in pages for record in page.records]

    def order(self, company_id: str, amount: str, at: datetime) -> None:
        pipeline = next(p for p in self.crm.pipelines("deals") if p.label == self.contract.order_pipelines[1])
        stage = next(s for s in pipeline.stages if s.is_won)
        properties = {
            "dealname": "Ordine e-commerce",
            "pipeline": pipeline.id,
            "dealstage": stage.id,
            "amount": amount,
            "closedate": at.astimezone(ROME).isoformat(),
        }
        self.crm.create("deals", properties, [AssociationTarget("companies", company_id)])

    def run(self, *, dry_run: bool = False) -> Any:
        return cashback.run(cashback.Request(as_of=self.today, dry_run=dry_run), self.ports)

    # --- what the rules define, from full listings ---------------------------------------------------------------

    def consenting(self) -> set[str]:
        policy = ConsentPolicy.from_settings(self.settings)
        found: set[str] = set()
        for record in self.listing("contacts", contact_properties(self.contract), ["companies"]):
            if may_email(to_contact(record, self.contract), policy):
                found.update(record.associations.get("companies", ()))
        return found

    def with_cashback(self) -> set[str]:
        records = self.listing("companies", [self.contract.cashback_available])
        return {r.id for r in records if (parse_number(r.prop(self.contract.cashback_available)) or 0) > 0}

    def orders_this_month(self) -> dict[str, list[tuple[datetime, date, Decimal]]]:
        """Each company's orders dated (in Rome) in the month: when it was closed, its date, its amount."""
        won = {
            (p.id, s.id)
            for p in self.crm.pipelines("deals")
            if p.label in self.contract.order_pipelines
            for s in p.stages
            if s.is_won
        }
        found: dict[str, list[tuple[datetime, date, Decimal]]] = {}
        for deal in self.listing("deals", ["pipeline", "dealstage", "closedate", "amount"], ["companies"]):
            day = parse_date(deal.prop("closedate"), "Europe/Rome")
            closed = parse_instant(deal.prop("closedate"))
            if (deal.prop("pipeline"), deal.prop("dealstage")) not in won or day is None or closed is None:
                continue
            if self.first <= day <= self.last:
                for company_id in deal.associations.get("companies", ())[:1]:
                    found.setdefault(company_id, []).append((closed, day, Decimal(deal.prop("amount") or "0")))
        return found


def first_nudge_day(orders: Sequence[tuple[datetime, date, Decimal]], first: date, last: date) -> date | None:
    """The first day of the month whose morning run sees the month's revenue so far in [3,500, 5,000): the
    orders dated up to that day and already closed at 09:30."""
    day = first
    while day <= last:
        run_at = datetime.combine(day, time(9, 30), ROME)
        mtd = sum((amount for closed, d, amount in orders if d <= day and closed <= run_at), Decimal(0))
        if Decimal(3500) <= mtd < Decimal(5000):
            return day
        day += timedelta(days=1)
    return None


@pytest.fixture
def month(sandbox_factory: Callable[..., Any], durable_state: Any, today: date, tmp_path: Path) -> Month:
    first = today.replace(day=1)
    server = sandbox_factory(companies=COMPANIES, seed=11, today=first - timedelta(days=1))
    return Month(server, durable_state, tmp_path, first)


def test_a_month_day_by_day_sends_each_reminder_and_nudge_once_to_exactly_the_companies_the_rules_define(
    month: Month,
) -> None:
    companies = sorted(r.id for r in month.listing("companies", ["name"]))
    # the order plan: day of month -> (company, amount, Rome time); the edges of the month included
    before_month = datetime.combine(month.first - timedelta(days=1), time(23, 59), ROME)
    plan: dict[int, list[tuple[str, str, time]]] = {}
    for index, company_id in enumerate(companies[:60]):
        kind = index % 6
        if kind == 0:  # exactly 3,500 on the 3rd, the first at 00:01 on the 1st
            plan.setdefault(1, []).append((company_id, "1500", time(0, 1)))
            plan.setdefault(3, []).append((company_id, "2000", time(11, 0)))
        elif kind == 1:  # straight past 5,000: never nudged
            plan.setdefault(5, []).append((company_id, "5200", time(10, 0)))
        elif kind == 2:  # 3,000 the evening before the month: only 1,000 counts this month
            month.order(company_id, "3000", before_month)
            plan.setdefault(10, []).append((company_id, "1000", time(16, 0)))
        elif kind == 3:  # climbs through the band over days: nudged the first day only
            for day in (2, 9, 16, 27):
                plan.setdefault(day, []).append((company_id, "1250", time(9, 0)))
        elif kind == 4:  # 23:59 on the last day: in this month, but only once that day has come
            plan.setdefault(month.last.day, []).append((company_id, "3600", time(23, 59)))
        else:  # 4,999.99 on the 21st
            plan.setdefault(21, []).append((company_id, "4999.99", time(7, 0)))

    sends_by_day: dict[date, int] = {}
    day = month.first
    while day <= month.last:
        month.go_to(day, time(2, 30))
        sirank.run(sirank.Request(as_of=day), month.ports)  # the night's run: its deal index names orders' companies
        month.go_to(day)
        for company_id, amount, at in plan.get(day.day, []):
            if at <= time(9, 30):  # placed before the morning run
                month.order(company_id, amount, datetime.combine(day, at, ROME))
        dry = month.run(dry_run=True)
        first = month.run()
        second = month.run()
        assert sorted(a.key for a in dry.actions) == sorted(a.key for a in first.actions), f"dry run on {day}"
        assert second.actions == [] and second.summary["emails"] == 0, f"second run on {day} sent again"
        sends_by_day[day] = first.summary["emails"]
        for company_id, amount, at in plan.get(day.day, []):
            if at > time(9, 30):  # placed after the morning run: seen tomorrow
                month.order(company_id, amount, datetime.combine(day, at, ROME))
        day += timedelta(days=1)

    consenting = month.consenting()
    orders = month.orders_this_month()
    expected = {(c, "reminder", month.first.replace(day=21)) for c in month.with_cashback() & consenting}
    for company_id, placed in orders.items():
        nudge_day = first_nudge_day(placed, month.first, month.last)
        if nudge_day is not None and company_id in consenting:
            expected.add((company_id, "threshold", nudge_day))

    sent = month.mailer.sent()
    actual = set()
    for message in sent:
        _, company_id, period, kind, _contact = message.key.split(":")
        assert period == f"{month.first:%Y-%m}"
        actual.add((company_id, kind, datetime.fromisoformat(message.written_at).astimezone(ROME).date()))

    assert len({k for _, k, _ in expected}) == 2 and len(expected) > 20  # a month worth the name
    assert len(sent) == len(actual), "one email per company and kind (the primary consenting contact)"
    assert actual == expected
    # the 23:59 orders of the last day and the evening-before orders did not make anyone nudged early
    kind_4 = {c for i, c in enumerate(companies[:60]) if i % 6 == 4}
    assert not {c for c, k, _ in actual if k == "threshold"} & kind_4
