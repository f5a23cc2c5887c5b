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

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.models import CrmRecord
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
            "deals", ["pipeline", "dealstage", "closedate", "createdate", "flywheel_key"], associations=["companies"]
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


def expected_cold_set(portal: Portal, last_order: Mapping[str, date]) -> set[str]:
    """The rules of issue 4, applied to the full listings."""
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
            if deal.prop("pipeline") == wakeup_id:
                created = parse_date(deal.prop("createdate"))
                if not stage.is_closed or (created and company_id in last_order and created >= last_order[company_id]):
                    blocked.add(company_id)
    expected = set()
    for company in portal.all("companies", [contract.category]):
        day = last_order.get(company.id)
        if day is None or not rules.min_days <= (portal.today - day).days <= rules.max_days:
            continue
        if company.prop(contract.category) in rules.excluded_categories or company.id in blocked:
            continue
        expected.add(company.id)
    return expected


@pytest.fixture
def portal(sandbox_factory: Callable[..., Any], now: datetime) -> Portal:
    server = sandbox_factory(companies=COMPANIES, seed=11)
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
    return Portal(server, crm, Settings(), now)


def test_the_dry_run_proposes_a_wakeup_deal_for_exactly_the_companies_the_rules_define(
    portal: Portal, tmp_path: Path
) -> None:
    last_order = record_last_purchase_dates(portal)
    expected = expected_cold_set(portal, last_order)
    deals_before = len(portal.deals())

    result = cold.run(cold.Request(dry_run=True), ports_for(portal, tmp_path))

    proposed = {a.company_id for a in result.actions if a.type == "create_deal"}
    assert len(expected) > 30  # the generated portal has a cold share in the tens of percent
    assert proposed == expected
    assert len(portal.deals()) == deals_before
    excluded = result.summary["excluded"]
    assert result.summary["cold_segment_size"] == len(expected) + sum(excluded.values())
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


def test_a_silent_owner_means_reactivation_emails_to_consenting_contacts_ten_days_after_the_task(
    portal: Portal, tmp_path: Path
) -> None:
    last_order = record_last_purchase_dates(portal)
    quiet = sorted(cid for cid, day in last_order.items() if 121 <= (portal.today - day).days <= 300)[:3]
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
    clock.set(clock.now() + timedelta(days=6))

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
    assert check.summary["activity_checks"].get("owner_active") == 1
    assert check.summary["emails_sent"] == len(consenting)
