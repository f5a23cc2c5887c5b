"""cold_segment over the sandbox portal, through the real HubSpot adapter over HTTP.

The expected cold set is worked out here from full listings of the portal (every company, every deal with its
associations), independently of the searches and association reads the service makes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import hubspot
import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.calendar import ITALIAN
from flywheel.domain.models import CrmRecord
from flywheel.domain.segments import after_second_reminder, in_recontact_window, months_before, second_reminder_on
from flywheel.ports import AssociationTarget
from flywheel.services import cold
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_date

pytestmark = pytest.mark.sandbox

COMPANIES = 250
ROME = ZoneInfo("Europe/Rome")


@dataclass
class Portal:
    server: Any
    crm: HubSpotCrm
    settings: Settings
    now: datetime  # the portal's pinned clock and the functions' clock agree

    @property
    def today(self) -> date:
        return self.now.astimezone(ROME).date()

    def all(self, object_type: str, properties: Sequence[str], associations: Sequence[str] = ()) -> list[CrmRecord]:
        pages = self.crm.list_pages(object_type, properties, associations=associations)
        return [record for page in pages for record in page.records]

    def deals(self) -> list[CrmRecord]:
        return self.all(
            "deals",
            ["pipeline", "dealstage", "closedate", "createdate", "flywheel_key", "amount"],
            associations=["companies"],
        )

    def wakeup_deals(self) -> list[CrmRecord]:
        wakeup = self.pipeline_by_label(self.settings.portal.wakeup_pipeline)
        return [d for d in self.deals() if d.prop("pipeline") == wakeup["id"]]

    def pipeline_by_label(self, label: str) -> dict[str, Any]:
        pipeline = next(p for p in self.crm.pipelines("deals") if p.label == label)
        return {"id": pipeline.id, "stages": {s.label: s for s in pipeline.stages}}


def ports_for(portal: Portal, tmp_path: Path, *, state: Any = None, crm: Any = None) -> Ports:
    return Ports(
        crm=crm or portal.crm,
        state=state if state is not None else SqliteStateStore(str(tmp_path / "state.db")),
        mailer=OutboxMailer(tmp_path / "outbox"),
        clock=FixedClock(portal.now),
        settings=portal.settings,
    )


def record_last_purchase_dates(portal: Portal) -> dict[str, date]:
    """What sirank_recalc maintains: each company's last order date, written to `last_purchase_date`."""
    orders = {
        (p.id, s.id)
        for p in portal.crm.pipelines("deals")
        if p.label in portal.settings.portal.order_pipelines
        for s in p.stages
        if s.is_won
    }
    last: dict[str, date] = {}
    for deal in portal.deals():
        day = parse_date(deal.prop("closedate"))
        if (deal.prop("pipeline"), deal.prop("dealstage")) not in orders or day is None or day > portal.today:
            continue
        for company_id in deal.associations.get("companies", ()):
            last[company_id] = max(day, last.get(company_id, day))
    portal.crm.update_batch(
        "companies", [(cid, {"last_purchase_date": day.isoformat()}) for cid, day in sorted(last.items())]
    )
    return last


def order_deals(portal: Portal) -> list[tuple[str, date, float]]:
    """(company, Rome date, amount) of every order up to today, from the full listing of deals."""
    won = {
        (p.id, s.id)
        for p in portal.crm.pipelines("deals")
        if p.label in portal.settings.portal.order_pipelines
        for s in p.stages
        if s.is_won
    }
    found = []
    for deal in portal.deals():
        day = parse_date(deal.prop("closedate"), "Europe/Rome")
        if (deal.prop("pipeline"), deal.prop("dealstage")) in won and day is not None and day <= portal.today:
            found += [(c, day, float(deal.prop("amount") or 0)) for c in deal.associations.get("companies", ())]
    return found


def queue_order(portal: Portal, candidates: set[str], last_order: Mapping[str, date]) -> list[str]:
    """The candidates by the revenue of the last 48 months, then the most recent last order, then the id."""
    since = months_before(portal.today, 48)
    value: dict[str, float] = dict.fromkeys(candidates, 0.0)
    for company_id, day, amount in order_deals(portal):
        if company_id in value and since < day:
            value[company_id] += amount
    return sorted(candidates, key=lambda c: (-value[c], -last_order[c].toordinal(), len(c), c))


def expected_cold_set(portal: Portal, last_order: Mapping[str, date], *, eligible: bool = False) -> set[str]:
    """The rules of issues 4 and 10, applied to the full listings: the companies waiting for a Wake Up deal, or
    (eligible) the companies of CLIENTI FREDDI, whether in the Wake Up pipeline already or not."""
    rules, contract = portal.settings.cold, portal.settings.portal
    pipelines = {p.id: p for p in portal.crm.pipelines("deals")}
    order_ids = {p.id for p in pipelines.values() if p.label in contract.order_pipelines}
    wakeup_id = next(p.id for p in pipelines.values() if p.label == contract.wakeup_pipeline)
    blocked: set[str] = set()
    for deal in portal.deals():
        stage = pipelines[deal.prop("pipeline") or ""].stage(deal.prop("dealstage") or "")
        assert stage is not None
        for company_id in deal.associations.get("companies", ()):
            if deal.prop("pipeline") in order_ids and not stage.is_closed:
                blocked.add(company_id)
            if deal.prop("pipeline") == wakeup_id and not eligible:
                created = parse_date(deal.prop("createdate"))
                if not stage.is_closed or (created and company_id in last_order and created >= last_order[company_id]):
                    blocked.add(company_id)
    expected = set()
    for company in portal.all("companies", [contract.category]):
        day = last_order.get(company.id)
        if day is None or not rules.more_than_days < (portal.today - day).days <= rules.max_days:
            continue
        if company.prop(contract.category) in rules.excluded_categories or company.id in blocked:
            continue
        expected.add(company.id)
    return expected


@pytest.fixture
def portal(sandbox_factory: Callable[..., Any], now: datetime, monkeypatch: pytest.MonkeyPatch) -> Portal:
    # emails carry a signed unsubscribe link, which needs its secret and the functions' public URL
    monkeypatch.setenv("FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET", "integration-unsubscribe-secret-0123456789abcdef")
    monkeypatch.setenv("FLYWHEEL_PUBLIC_URL", "https://europe-west1-flywheel-test.cloudfunctions.net")
    server = sandbox_factory(companies=COMPANIES, seed=11)
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
    # Wake Up deals are created on Italian business days only: the tests' day is the first one from `today`
    working = now
    while not ITALIAN.is_business_day(working.date()):
        working += timedelta(days=1)
    server.store.clock.pin(working)
    return Portal(server, crm, Settings(), working)


def test_the_dry_run_proposes_todays_share_of_exactly_the_companies_the_rules_define(
    portal: Portal, tmp_path: Path
) -> None:
    last_order = record_last_purchase_dates(portal)
    expected = expected_cold_set(portal, last_order)
    deals_before = len(portal.deals())
    ports = ports_for(portal, tmp_path)
    ports.settings = portal.settings.model_copy(deep=True)
    ports.settings.cold.daily_new_deals = 10_000  # the whole queue at once

    everything = cold.run(cold.Request(dry_run=True), ports)
    paced = cold.run(cold.Request(dry_run=True), ports_for(portal, tmp_path))

    assert len(expected) > 30  # the generated portal has a cold share in the tens of percent
    assert {a.company_id for a in everything.actions if a.type == "create_deal"} == expected
    proposed = [a.company_id for a in paced.actions if a.type == "create_deal"]
    today = 40 if ITALIAN.is_business_day(portal.today) else 0
    assert sorted(proposed) == sorted(queue_order(portal, expected, last_order)[:today])
    assert paced.summary["backlog"] == len(expected) - len(proposed)
    assert len(portal.deals()) == deals_before
    excluded = paced.summary["excluded"]
    assert paced.summary["cold_segment_size"] == len(expected) + sum(excluded.values())
    assert excluded["category"] > 0


def test_a_second_real_run_the_same_day_creates_nothing(portal: Portal, tmp_path: Path) -> None:
    record_last_purchase_dates(portal)
    ports = ports_for(portal, tmp_path)

    first = cold.run(cold.Request(), ports)
    wakeup_after_first = len(portal.wakeup_deals())
    second = cold.run(cold.Request(), ports)

    assert first.summary["deals_created"] > 30
    assert second.summary["deals_created"] == 0 and second.summary["tasks_created"] == 0
    assert second.actions == []
    assert len(portal.wakeup_deals()) == wakeup_after_first
    keys = [d.prop("flywheel_key") for d in portal.wakeup_deals() if d.prop("flywheel_key")]
    assert len(keys) == len(set(keys)) == first.summary["deals_created"]


class CrashAfterCreate(HubSpotCrm):
    """The instance dies after HubSpot created the n-th deal and before anything else happens."""

    def __init__(self, crash_on: int, **options: Any) -> None:
        super().__init__(**options)
        self.crash_on, self.creates = crash_on, 0

    def create(
        self, object_type: str, properties: Mapping[str, str], associations: Sequence[AssociationTarget] = ()
    ) -> CrmRecord:
        record = super().create(object_type, properties, associations)
        self.creates += object_type == "deals"
        if self.creates == self.crash_on and object_type == "deals":
            raise RuntimeError("function instance killed after HubSpot answered")
        return record


def test_a_run_interrupted_after_hubspot_created_a_deal_leaves_one_deal_after_the_retry(
    portal: Portal, tmp_path: Path
) -> None:
    record_last_purchase_dates(portal)
    expected = cold.run(cold.Request(dry_run=True), ports_for(portal, tmp_path))
    to_create = {a.company_id for a in expected.actions if a.type == "create_deal"}
    state = MemoryStateStore()
    crashing = CrashAfterCreate(3, api_base=portal.server.url, access_token=portal.server.token)
    ports = ports_for(portal, tmp_path, state=state, crm=crashing)

    with pytest.raises(RuntimeError):
        cold.run(cold.Request(), ports)
    keyed = [d for d in portal.wakeup_deals() if (d.prop("flywheel_key") or "").startswith("cold_segment:")]
    assert len(keyed) == 3  # the third deal exists in HubSpot, its key is still pending in the state store

    clock = ports.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(seconds=portal.settings.effect_lease_seconds + 1))
    retry = cold.run(cold.Request(), ports)

    created = [d for d in portal.wakeup_deals() if (d.prop("flywheel_key") or "").startswith("cold_segment:")]
    per_company = [c for d in created for c in d.associations.get("companies", ())]
    assert sorted(per_company) == sorted(to_create)  # every cold company has exactly one deal
    assert retry.summary["deals_created"] == len(to_create) - 3
    for deal in created:
        found = state.lookup(deal.prop("flywheel_key") or "")
        assert found is not None and found.status == "done"


def test_the_appointment_webhook_delivered_three_times_gives_one_owner_task(portal: Portal, tmp_path: Path) -> None:
    contract = portal.settings.portal
    company = portal.all("companies", ["hubspot_owner_id", "name"])[0]
    wakeup = portal.pipeline_by_label(contract.wakeup_pipeline)
    at = datetime.combine(portal.today + timedelta(days=2), time(11, 0), ROME)
    deal = portal.crm.create(
        "deals",
        {
            "dealname": "Wake Up - prova",
            "pipeline": wakeup["id"],
            "dealstage": wakeup["stages"][contract.wakeup_stage_appointment].id,
            contract.wakeup_appointment_at: at.isoformat(),
            contract.wakeup_appointment_kind: "visit",
            contract.wakeup_notes: "Rinnovo parco stampanti",
        },
        [AssociationTarget("companies", company.id)],
    )
    ports = ports_for(portal, tmp_path)
    event = {
        "objectId": int(deal.id),
        "subscriptionType": "deal.propertyChange",
        "propertyName": "dealstage",
        "propertyValue": wakeup["stages"][contract.wakeup_stage_appointment].id,
        "occurredAt": int(portal.now.timestamp() * 1000),
    }

    results = [cold.webhook([{**event, "eventId": n}], ports) for n in range(3)]

    tasks = portal.crm.associated_ids("deals", "tasks", [deal.id])[deal.id]
    assert len(tasks) == 1
    [task] = portal.crm.read_batch("tasks", tasks, ["hubspot_owner_id", "hs_task_subject", "hs_timestamp"])
    assert task.prop("hubspot_owner_id") == company.prop("hubspot_owner_id")
    assert (task.prop("hs_task_subject") or "").startswith("Visita con ")
    assert parse_date(task.prop("hs_timestamp")) == at.date()
    assert [r.summary["tasks_created"] for r in results] == [1, 0, 0]


def test_an_order_placed_after_the_wakeup_deal_moves_it_to_riattivato_the_next_day(
    portal: Portal, tmp_path: Path
) -> None:
    record_last_purchase_dates(portal)
    ports = ports_for(portal, tmp_path)
    cold.run(cold.Request(), ports)
    [deal, *_] = [d for d in portal.wakeup_deals() if (d.prop("flywheel_key") or "").startswith("cold_segment:")]
    [company_id] = deal.associations["companies"]
    sales = portal.pipeline_by_label(portal.settings.portal.order_pipelines[0])
    won = next(s for s in sales["stages"].values() if s.is_won)
    # an e-commerce order tonight; `last_purchase_date` is left as it was (sirank_recalc has not run yet)
    ordered_at = datetime.combine(portal.today, datetime.min.time(), ROME) + timedelta(hours=21)
    portal.server.store.clock.pin(ordered_at)
    portal.crm.create(
        "deals",
        {
            "dealname": "Ordine web",
            "pipeline": sales["id"],
            "dealstage": won.id,
            "amount": "780",
            "closedate": ordered_at.isoformat(),
        },
        [AssociationTarget("companies", company_id)],
    )
    clock = ports.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(days=1))

    result = cold.run(cold.Request(), ports)

    [moved] = portal.crm.read_batch("deals", [deal.id], ["dealstage"])
    assert (
        moved.prop("dealstage")
        == portal.pipeline_by_label(portal.settings.portal.wakeup_pipeline)["stages"][
            portal.settings.portal.wakeup_stage_won
        ].id
    )
    assert result.summary["deals_moved"] == 1


def test_a_silent_owner_gets_a_second_reminder_then_reactivation_emails_go_ten_days_after_the_first_task(
    portal: Portal, tmp_path: Path
) -> None:
    last_order = record_last_purchase_dates(portal)
    quiet = sorted(cid for cid, day in last_order.items() if in_recontact_window(day, portal.today, Settings().cold))
    quiet = quiet[:3]
    assert len(quiet) == 3
    # these three are the only valuable companies, whatever else the generated portal holds on this date
    everyone = [c.id for c in portal.all("companies", [])]
    portal.crm.update_batch("companies", [(cid, {"sirank": "9000" if cid in quiet else "0"}) for cid in everyone])
    # the owner of the first one logs a call after the task; the others hear nothing
    ports = ports_for(portal, tmp_path)
    first = cold.run(cold.Request(), ports)
    recontacts = [a for a in first.actions if a.type == "create_task" and ":recontact:" in (a.key or "")]
    assert sorted(a.company_id for a in recontacts) == quiet
    clock = ports.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(days=4))
    portal.crm.create(
        "calls",
        {"hs_timestamp": clock.now().isoformat(), "hs_call_title": "Sentito il cliente", "hs_call_status": "COMPLETED"},
        [AssociationTarget("companies", quiet[0])],
    )
    second_on = second_reminder_on(
        portal.today, portal.settings.cold, calendar=portal.settings.calendar.business_calendar()
    )
    clock.set(portal.now + timedelta(days=(second_on - portal.today).days))
    reminded = cold.run(cold.Request(), ports)
    reminders = [a for a in reminded.actions if a.type == "create_task" and ":recontact2:" in (a.key or "")]
    assert sorted(a.company_id for a in reminders) == quiet[1:]
    assert reminded.summary["activity_checks"] == {"owner_active": 1, "second_reminder": 2}
    assert OutboxMailer(tmp_path / "outbox").sent() == []
    email_on = after_second_reminder(portal.today, second_on, portal.settings.cold)
    clock.set(portal.now + timedelta(days=(email_on - portal.today).days))

    check = cold.run(cold.Request(), ports)

    contacts = portal.crm.associated_ids("companies", "contacts", quiet[1:])
    records = portal.crm.read_batch(
        "contacts", [c for cs in contacts.values() for c in cs], ["email", "hs_email_optout", "hs_legal_basis"]
    )
    consenting = {
        r.id for r in records if r.prop("email") and r.prop("hs_email_optout") != "true" and r.prop("hs_legal_basis")
    }
    assert consenting  # the generated contacts mostly have an address and a legal basis
    sent = OutboxMailer(tmp_path / "outbox").sent()
    assert {m.contact_id for m in sent} == consenting
    assert all(m.template == "riattivazione" and m.company_id in quiet[1:] for m in sent)
    checks = check.summary["activity_checks"]
    assert set(checks) <= {"emailed", "no_consenting_contact"} and sum(checks.values()) == 2
    assert check.summary["emails_sent"] == len(consenting)


@pytest.fixture
def crowded(sandbox_factory: Callable[..., Any], now: datetime) -> Portal:
    """A bigger portal: several hundred cold companies, many days of the assistant's work."""
    server = sandbox_factory(companies=1500, seed=5)
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
    return Portal(server, crm, Settings(), now)


def wakeup_companies(portal: Portal) -> list[str]:
    """The company of every Wake Up deal cold_segment created, once per deal."""
    return [
        c
        for d in portal.wakeup_deals()
        if (d.prop("flywheel_key") or "").startswith("cold_segment:")
        for c in d.associations.get("companies", ())
    ]


def test_the_queue_drains_40_a_business_day_and_no_company_gets_two_deals(crowded: Portal, tmp_path: Path) -> None:
    last_order = record_last_purchase_dates(crowded)
    waiting = expected_cold_set(crowded, last_order)
    assert len(waiting) > 200
    ports = ports_for(crowded, tmp_path)
    clock = ports.clock
    assert isinstance(clock, FixedClock)
    day = crowded.today
    while not ITALIAN.is_business_day(day):  # the first run on a working morning
        day += timedelta(days=1)

    created_per_day: list[int] = []
    backlog = None
    while backlog != 0 and len(created_per_day) < 40:
        at = crowded.now + timedelta(days=(day - crowded.today).days)
        clock.set(at)
        crowded.server.store.clock.pin(at)
        result = cold.run(cold.Request(), ports)
        assert result.summary["deals_created"] <= (40 if ITALIAN.is_business_day(day) else 0)
        created_per_day.append(result.summary["deals_created"])
        backlog = result.summary["backlog"]
        day += timedelta(days=1)

    assert created_per_day[0] == 40 and backlog == 0
    companies = wakeup_companies(crowded)
    assert len(companies) == len(set(companies)) == sum(created_per_day)
    # everything that was waiting on the first day got its deal, unless it left the segment on the way
    assert len(waiting - set(companies)) < len(waiting) // 10


def test_clienti_freddi_holds_exactly_the_companies_with_wakeup_eligible_true(portal: Portal, tmp_path: Path) -> None:
    last_order = record_last_purchase_dates(portal)
    lists = hubspot.Client.create(access_token=portal.server.token, host=portal.server.url).crm.lists

    result = cold.run(cold.Request(), ports_for(portal, tmp_path))

    flagged = {c.id for c in portal.all("companies", ["wakeup_eligible"]) if c.prop("wakeup_eligible") == "true"}
    freddi = lists.lists_api.get_by_name("CLIENTI FREDDI", "0-2").list.list_id
    page = lists.memberships_api.get_page(freddi, limit=250)
    members = {m.record_id for m in page.results}
    while page.paging is not None and page.paging.next is not None:
        page = lists.memberships_api.get_page(freddi, limit=250, after=page.paging.next.after)
        members |= {m.record_id for m in page.results}
    assert members == flagged == expected_cold_set(portal, last_order, eligible=True)
    assert result.summary["wakeup_eligible"] == len(flagged) == result.summary["eligibility_changes"]

    again = cold.run(cold.Request(), ports_for(portal, tmp_path))
    assert again.summary["eligibility_changes"] == 0


def test_1485_cold_companies_get_40_deals_a_business_day_and_the_backlog_clears_without_doubles(
    sandbox_factory: Callable[..., Any], now: datetime, tmp_path: Path
) -> None:
    server = sandbox_factory()
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
    portal = Portal(server, crm, Settings(), now)
    # quiet 200..1,200 days: all of them stay cold for the weeks the queue takes
    last_order: dict[str, date] = {}
    for n in range(1485):
        day = portal.today - timedelta(days=200 + n * 1000 // 1485)
        properties = {"name": f"Azienda {n}", "customer_category": "reseller", "last_purchase_date": day.isoformat()}
        last_order[server.store.create_object("companies", properties)] = day
    ports = ports_for(portal, tmp_path)
    clock = ports.clock
    assert isinstance(clock, FixedClock)
    first_day = portal.today
    while not ITALIAN.is_business_day(first_day):
        first_day += timedelta(days=1)

    results = []
    day = first_day
    while not results or results[-1].summary["backlog"]:
        at = portal.now + timedelta(days=(day - portal.today).days)
        clock.set(at)
        server.store.clock.pin(at)
        results.append(cold.run(cold.Request(), ports))
        day += timedelta(days=1)

    first = results[0].summary
    assert (first["deals_created"], first["backlog"], first["backlog_business_days"]) == (40, 1445, 37)
    most_recent = sorted(last_order, key=lambda c: (-last_order[c].toordinal(), len(c), c))[:40]
    assert sorted(a.company_id for a in results[0].actions if a.type == "create_deal") == sorted(most_recent)
    business_days = [r for r in results if ITALIAN.is_business_day(r.as_of)]
    assert len(business_days) == 38 and results[-1].as_of.isoformat() == first["backlog_cleared_by"]
    assert all(r.summary["deals_created"] == 0 for r in results if not ITALIAN.is_business_day(r.as_of))
    companies = wakeup_companies(portal)
    assert len(companies) == len(set(companies)) == 1485
