"""cold_segment over the in-memory CRM: what ends up in the portal, the state store and the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.calendar import ITALIAN
from flywheel.domain.models import CrmRecord
from flywheel.domain.segments import months_before
from flywheel.services import cold
from flywheel.services.context import Ports

AS_OF = date(2026, 11, 30)  # a Monday
ROME = ZoneInfo("Europe/Rome")


class World:
    """A portal, a state store, an outbox and a clock standing on a day; helpers to seed and to look."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FixedClock.on(AS_OF)
        self.crm = MemoryCrm.with_default_schema(now=self.clock.now)
        self.mailer = OutboxMailer(tmp_path / "outbox")
        self.state = MemoryStateStore()
        self.ports = Ports(crm=self.crm, state=self.state, mailer=self.mailer, clock=self.clock, settings=Settings())
        self.contract = self.ports.settings.portal

    # --- seeding -------------------------------------------------------------------------------------------

    def quiet_company(
        self, days: int, name: str = "Rossi Informatica S.r.l.", *, contacts: int = 1, **properties: str
    ) -> str:
        """A company whose last order was `days` days ago (as the order and as `last_purchase_date`)."""
        last = self.today - timedelta(days=days)
        properties.setdefault("province", "MI")
        company_id = self.crm.add_company(name, **{self.contract.last_purchase_date: last.isoformat(), **properties})
        self.crm.add_order(company_id, 1200.0, last)
        for index in range(contacts):
            self.crm.add_contact(company_id, f"acquisti{index}.{company_id}@example.it", first_name=f"Anna{index}")
        return company_id

    def wakeup_deal(self, company_id: str, stage: str, **properties: str) -> str:
        return self.crm.add_deal(company_id, pipeline=self.contract.wakeup_pipeline, stage=stage, **properties)

    # --- running -------------------------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self.clock.today()

    def advance(self, days: int = 0, *, seconds: int = 0) -> None:
        self.clock.set(self.clock.now() + timedelta(days=days, seconds=seconds))

    def run(self, *, dry_run: bool = False) -> cold.RunResult:
        return cold.run(cold.Request(dry_run=dry_run), self.ports)

    # --- looking -------------------------------------------------------------------------------------------

    def wakeup_deals(self, company_id: str | None = None) -> list[CrmRecord]:
        pipeline = self.crm.pipeline(self.contract.wakeup_pipeline).id
        deals = [d for d in self.crm.all("deals") if d.properties.get("pipeline") == pipeline]
        return [d for d in deals if company_id is None or company_id in d.associations.get("companies", ())]

    def stage_label(self, deal: CrmRecord) -> str:
        pipeline = self.crm.pipeline(self.contract.wakeup_pipeline)
        return pipeline.stage_by_label(deal.properties["dealstage"] or "").label

    def tasks(self, company_id: str | None = None) -> list[CrmRecord]:
        return [
            t for t in self.crm.all("tasks") if company_id is None or company_id in t.associations.get("companies", ())
        ]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # emails carry a signed unsubscribe link, which needs its secret and the functions' public URL
    monkeypatch.setenv("FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET", "unit-test-unsubscribe-secret-0123456789abcdef")
    monkeypatch.setenv("FLYWHEEL_PUBLIC_URL", "https://europe-west1-flywheel-test.cloudfunctions.net")
    yield World(tmp_path)


# --- the Wake Up deal ------------------------------------------------------------------------------------------


def test_a_cold_company_gets_one_wakeup_deal_worked_by_the_assistant(world: World) -> None:
    company_id = world.quiet_company(200, contacts=2)
    owner_before = world.crm.get("companies", company_id).properties["hubspot_owner_id"]

    result = world.run()

    [deal] = world.wakeup_deals(company_id)
    assert world.stage_label(deal) == "Da contattare"
    assert deal.properties["hubspot_owner_id"] == world.crm.sales_assistant.id
    assert deal.properties["dealname"] == "Wake Up - Rossi Informatica S.r.l."
    assert deal.properties["flywheel_key"] == f"cold_segment:{company_id}:wakeup:{AS_OF - timedelta(days=200)}"
    assert len(deal.associations["contacts"]) == 2
    assert world.crm.get("companies", company_id).properties["hubspot_owner_id"] == owner_before
    assert result.summary["cold_segment_size"] == 1 and result.summary["deals_created"] == 1


def test_the_deal_description_has_last_order_r12_sirank_owner_and_the_data_care_checklist(world: World) -> None:
    company_id = world.quiet_company(200, contacts=0, sirank="4200", province="")
    world.crm.add_order(company_id, 800.0, AS_OF - timedelta(days=300))
    world.crm.add_order(company_id, 5000.0, AS_OF - timedelta(days=400))  # older than 12 months
    world.crm.add_contact(company_id, "", first_name="Paolo", last_name="Gialli", legal_basis=None)

    world.run()

    [deal] = world.wakeup_deals(company_id)
    description = deal.properties["description"] or ""
    assert f"Ultimo ordine: {AS_OF - timedelta(days=200):%d/%m/%Y}" in description
    assert "(R12): 2.000,00 €" in description
    assert "SiRank: 4.200" in description
    assert "Commerciale dell'azienda: Marco Rossi" in description
    assert "Paolo Gialli: email mancante" in description
    assert "Paolo Gialli: base giuridica del trattamento mancante" in description
    assert "Provincia mancante" in description


@pytest.mark.parametrize(("days", "cold_"), [(180, False), (181, True), (1460, True), (1461, False)])
def test_only_companies_quiet_more_than_180_and_at_most_1460_days_get_a_wakeup_deal(
    world: World, days: int, cold_: bool
) -> None:
    company_id = world.quiet_company(days)
    world.run()
    assert len(world.wakeup_deals(company_id)) == (1 if cold_ else 0)


@pytest.mark.parametrize("category", ["public_administration", "end_user"])
def test_excluded_categories_are_counted_and_get_no_deal(world: World, category: str) -> None:
    company_id = world.quiet_company(300, category=category)
    result = world.run()
    assert world.wakeup_deals(company_id) == []
    assert result.summary["cold_segment_size"] == 1
    assert result.summary["excluded"] == {"category": 1, "open_deal": 0, "already_in_wakeup": 0}


@pytest.mark.parametrize("pipeline", ["Pipeline delle vendite", "Sales management"])
def test_an_open_deal_in_either_order_pipeline_excludes_the_company(world: World, pipeline: str) -> None:
    company_id = world.quiet_company(300)
    world.crm.add_deal(company_id, pipeline=pipeline, stage="Offerta inviata", amount=3000.0)
    result = world.run()
    assert world.wakeup_deals(company_id) == []
    assert result.summary["excluded"]["open_deal"] == 1


@pytest.mark.parametrize("pipeline", ["Pipeline delle vendite", "Sales management"])
def test_a_lost_deal_in_an_order_pipeline_does_not_exclude(world: World, pipeline: str) -> None:
    company_id = world.quiet_company(300)
    world.crm.add_order(company_id, 900.0, AS_OF - timedelta(days=250), pipeline=pipeline, won=False)
    world.run()
    assert len(world.wakeup_deals(company_id)) == 1


def test_a_company_already_in_the_wakeup_pipeline_gets_no_second_deal(world: World) -> None:
    company_id = world.quiet_company(300)
    world.wakeup_deal(company_id, "Contattato")
    result = world.run()
    assert len(world.wakeup_deals(company_id)) == 1
    assert result.summary["excluded"]["already_in_wakeup"] == 1


def test_a_dry_run_lists_the_deals_and_changes_nothing(world: World) -> None:
    cold_ids = {world.quiet_company(200 + i, f"Azienda {i}") for i in range(3)}
    world.quiet_company(30, "Cliente attivo")

    result = world.run(dry_run=True)

    assert {a.company_id for a in result.actions if a.type == "create_deal"} == cold_ids
    assert world.wakeup_deals() == [] and world.tasks() == []
    assert all(world.state.lookup(a.key) is None for a in result.actions if a.key)
    assert all(world.crm.get("companies", c).properties.get("wakeup_eligible") is None for c in cold_ids)


def test_a_second_run_the_same_day_creates_nothing(world: World) -> None:
    for i in range(3):
        world.quiet_company(200 + i, f"Azienda {i}", sirank="7000")
    first = world.run()
    deals, tasks = len(world.wakeup_deals()), len(world.tasks())

    second = world.run()

    assert (deals, tasks) == (3, 3)
    assert (len(world.wakeup_deals()), len(world.tasks())) == (3, 3)
    assert first.summary["deals_created"] == 3
    assert second.summary["deals_created"] == 0 and second.summary["tasks_created"] == 0
    assert second.actions == []


def test_a_crash_after_hubspot_created_the_deal_leaves_one_deal_after_the_retry(world: World) -> None:
    company_id = world.quiet_company(250)
    world.crm.fail_next_create(RuntimeError("instance killed"), after_effect=True)
    with pytest.raises(RuntimeError):
        world.run()
    assert len(world.wakeup_deals(company_id)) == 1

    world.advance(seconds=world.ports.settings.effect_lease_seconds + 1)
    world.run()

    assert len(world.wakeup_deals(company_id)) == 1
    key = world.wakeup_deals(company_id)[0].properties["flywheel_key"] or ""
    assert world.state.lookup(key) is not None and world.state.lookup(key).status == "done"  # type: ignore[union-attr]


def test_reads_stay_batched_whatever_the_number_of_cold_companies(world: World) -> None:
    for i in range(120):
        world.quiet_company(200 + i, f"Azienda {i}")
    result = world.run(dry_run=True)
    # companies (2 pages), 3 searches, associations and batch reads of the candidates' orders (2 batches each),
    # of today's 40 companies' contacts (1 each)
    assert len([a for a in result.actions if a.type == "create_deal"]) == 40
    assert result.summary["backlog"] == 80
    assert result.summary["crm_calls"] <= 16


# --- Wake Up automations ---------------------------------------------------------------------------------------


def test_an_order_after_the_wakeup_deal_moves_it_to_riattivato(world: World) -> None:
    company_id = world.quiet_company(300)
    world.run()
    world.advance(days=5)
    world.crm.add_order(company_id, 450.0, world.today - timedelta(days=1))  # last_purchase_date not yet updated

    result = world.run()

    [deal] = world.wakeup_deals(company_id)
    assert world.stage_label(deal) == "Riattivato"
    assert result.summary["deals_moved"] == 1
    assert result.summary["deals_created"] == 0


def test_a_wakeup_deal_lost_in_this_spell_is_not_recreated_the_next_days(world: World) -> None:
    company_id = world.quiet_company(300)
    world.run()
    [deal] = world.wakeup_deals(company_id)
    lost = world.crm.pipeline(world.contract.wakeup_pipeline).stage_by_label("Non interessato").id
    world.crm.update_batch("deals", [(deal.id, {"dealstage": lost})])
    world.advance(days=1)
    world.run()
    assert len(world.wakeup_deals(company_id)) == 1


def test_a_deal_left_in_da_contattare_over_14_days_gets_one_reminder_for_the_assistant(world: World) -> None:
    company_id = world.quiet_company(300)
    world.run()
    world.advance(days=14)
    world.run()
    assert world.tasks(company_id) == []

    world.advance(days=1)
    world.run()
    world.advance(days=1)
    world.run()

    [reminder] = world.tasks(company_id)
    assert reminder.properties["hubspot_owner_id"] == world.crm.sales_assistant.id
    assert (reminder.properties["hs_task_subject"] or "").startswith("Da contattare da 15 giorni")


def appointment_deal(world: World, company_id: str, at: datetime, kind: str = "visit") -> str:
    return world.wakeup_deal(
        company_id,
        "Appuntamento fissato",
        wakeup_appointment_at=at.isoformat(),
        wakeup_appointment_kind=kind,
        wakeup_notes="Vuole rinnovare 20 PC",
    )


def test_an_appointment_gives_the_company_owner_a_task_due_at_the_appointment(world: World) -> None:
    company_id = world.quiet_company(300)
    owner = world.crm.get("companies", company_id).properties["hubspot_owner_id"]
    at = datetime(2026, 12, 3, 10, 30, tzinfo=ROME)
    deal_id = appointment_deal(world, company_id, at)

    world.run()
    world.run()

    [task] = world.tasks(company_id)
    assert task.properties["hubspot_owner_id"] == owner
    assert task.properties["hs_timestamp"] == at.isoformat()
    assert task.associations["deals"] == (deal_id,)
    assert "Visita" in (task.properties["hs_task_subject"] or "")
    assert "Vuole rinnovare 20 PC" in (task.properties["hs_task_body"] or "")


def test_the_appointment_webhook_delivered_three_times_makes_one_owner_task(world: World) -> None:
    company_id = world.quiet_company(300)
    deal_id = appointment_deal(world, company_id, datetime(2026, 12, 4, 15, 0, tzinfo=ROME), kind="teams_call")
    event = {"objectId": int(deal_id), "eventId": 77, "subscriptionType": "deal.propertyChange"}

    results = [cold.webhook([{**event, "propertyName": "dealstage"}], world.ports) for _ in range(3)]

    [task] = world.tasks(company_id)
    assert (task.properties["hs_task_subject"] or "").startswith("Chiamata Teams con Rossi Informatica")
    assert [r.summary["tasks_created"] for r in results] == [1, 0, 0]


def test_the_webhook_trusts_the_portal_not_the_payload(world: World) -> None:
    company_id = world.quiet_company(300)
    contacted = world.wakeup_deal(company_id, "Contattato")
    order = world.crm.add_deal(company_id, pipeline="Pipeline delle vendite", stage="Qualificato")
    events = [
        {"objectId": contacted, "propertyName": "dealstage", "propertyValue": "Appuntamento fissato"},
        {"objectId": order, "propertyName": "dealstage"},
        {"objectId": "999999"},
    ]
    result = cold.webhook(events, world.ports)
    assert world.tasks() == [] and result.actions == []


# --- recontact and reactivation --------------------------------------------------------------------------------


def test_a_high_value_company_gone_quiet_gets_one_owner_task_due_in_three_business_days(world: World) -> None:
    company_id = world.quiet_company(150, sirank="8000")
    owner = world.crm.get("companies", company_id).properties["hubspot_owner_id"]

    world.run()
    world.advance(days=1)
    world.run()

    [task] = world.tasks(company_id)
    due = datetime.combine(ITALIAN.add_business_days(AS_OF, 3), time(9, 0), ROME)
    assert task.properties["hs_timestamp"] == due.isoformat()
    assert task.properties["hubspot_owner_id"] == owner
    assert world.wakeup_deals(company_id) == []  # 150 days is not cold yet


FOUR_MONTHS = (AS_OF - months_before(AS_OF, 4)).days
TWELVE_MONTHS = (AS_OF - months_before(AS_OF, 12)).days


@pytest.mark.parametrize(
    ("sirank", "days", "due"),
    [
        ("5000", 200, False),
        ("5001", FOUR_MONTHS, False),
        ("5001", FOUR_MONTHS + 1, True),
        ("9000", TWELVE_MONTHS - 1, True),
        ("9000", TWELVE_MONTHS, False),
    ],
)
def test_recontact_edges_over_the_service(world: World, sirank: str, days: int, due: bool) -> None:
    company_id = world.quiet_company(days, sirank=sirank, category="end_user")  # no Wake Up deal noise
    world.run()
    assert len(world.tasks(company_id)) == (1 if due else 0)


def test_no_owner_activity_in_10_days_sends_the_reactivation_email_to_consenting_contacts(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000", contacts=1)
    world.crm.add_contact(company_id, "optout@example.it", first_name="Piero", opted_out=True)
    world.crm.add_contact(company_id, "nobasis@example.it", first_name="Ugo", legal_basis=None)
    world.run()
    world.advance(days=9)
    assert world.run().summary["emails_sent"] == 0

    world.advance(days=1)
    result = world.run()
    world.advance(days=1)
    again = world.run()

    [email] = world.mailer.sent()
    assert email.template == "riattivazione" and email.company_id == company_id
    assert email.context["owner_name"] == "Marco Rossi"
    assert email.context["company_name"] == "Rossi Informatica S.r.l."
    assert result.summary["emails_sent"] == 1 and again.summary["emails_sent"] == 0


def test_a_note_logged_after_the_recontact_task_means_no_email(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000")
    world.run()
    world.advance(days=2)
    world.crm.add(
        "notes",
        {"hs_timestamp": world.clock.now().astimezone(UTC).isoformat(), "hs_note_body": "Sentito"},
        {"companies": [company_id]},
    )
    world.advance(days=8)
    result = world.run()
    assert world.mailer.sent() == []
    assert result.summary["activity_checks"] == {"owner_active": 1}


def test_completing_the_recontact_task_counts_as_activity(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000")
    world.run()
    [task] = world.tasks(company_id)
    world.advance(days=3)
    world.crm.update_batch("tasks", [(task.id, {"hs_task_status": "COMPLETED"})])
    world.advance(days=7)
    world.run()
    assert world.mailer.sent() == []


def test_an_order_before_the_check_means_no_email(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000")
    world.run()
    world.advance(days=5)
    world.crm.add_order(company_id, 2500.0, world.today)
    world.advance(days=5)
    result = world.run()
    assert world.mailer.sent() == []
    assert result.summary["activity_checks"] == {"reordered": 1}


def test_a_rescheduled_appointment_gives_the_owner_a_new_task(world: World) -> None:
    company_id = world.quiet_company(300)
    deal_id = appointment_deal(world, company_id, datetime(2026, 12, 4, 15, 0, tzinfo=ROME))
    cold.webhook([{"objectId": deal_id}], world.ports)
    moved = datetime(2026, 12, 9, 11, 0, tzinfo=ROME)
    world.crm.update_batch("deals", [(deal_id, {"wakeup_appointment_at": moved.isoformat()})])

    cold.webhook([{"objectId": deal_id}], world.ports)
    cold.webhook([{"objectId": deal_id}], world.ports)

    due_dates = sorted(t.properties["hs_timestamp"] or "" for t in world.tasks(company_id))
    assert due_dates == [datetime(2026, 12, 4, 15, 0, tzinfo=ROME).isoformat(), moved.isoformat()]


def test_webhook_events_about_other_objects_are_ignored(world: World) -> None:
    company_id = world.quiet_company(300)
    deal_id = appointment_deal(world, company_id, datetime(2026, 12, 4, 15, 0, tzinfo=ROME))
    result = cold.webhook([{"objectId": deal_id, "subscriptionType": "contact.propertyChange"}], world.ports)
    assert world.tasks() == [] and result.summary["deals"] == 0


# --- the recontact series --------------------------------------------------------------------------------------


def subjects(world: World, company_id: str) -> list[str]:
    return sorted(t.properties["hs_task_subject"] or "" for t in world.tasks(company_id))


def test_a_silent_owner_gets_task_2_five_business_days_after_task_1_then_the_email_on_day_10(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000")
    second_on = ITALIAN.add_business_days(AS_OF, 5)
    world.run()
    while world.today < second_on - timedelta(days=1):
        world.advance(days=1)
        world.run()
    assert len(world.tasks(company_id)) == 1

    world.advance(days=1)  # 5 business days after task 1
    reminded = world.run()
    assert [s.startswith("Secondo promemoria") for s in subjects(world, company_id)].count(True) == 1
    assert reminded.summary["activity_checks"] == {"second_reminder": 1}
    assert reminded.summary["second_reminders"] == 1
    while world.today < AS_OF + timedelta(days=10):
        assert world.run().summary["emails_sent"] == 0
        world.advance(days=1)
    emailed = world.run()
    world.advance(days=1)
    world.run()

    assert emailed.summary["emails_sent"] == 1 and len(world.mailer.sent()) == 1
    assert len(world.tasks(company_id)) == 2  # nothing twice
    [task2] = [t for t in world.tasks(company_id) if (t.properties["flywheel_key"] or "").count(":recontact2:")]
    assert task2.properties["hubspot_owner_id"] == world.crm.get("companies", company_id).properties["hubspot_owner_id"]


def test_activity_after_task_2_still_stops_the_email(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000")
    world.run()
    world.advance(days=(ITALIAN.add_business_days(AS_OF, 5) - AS_OF).days)
    world.run()
    world.advance(days=1)
    world.crm.add("calls", {"hs_timestamp": world.clock.now().astimezone(UTC).isoformat()}, {"companies": [company_id]})
    world.advance(days=(AS_OF + timedelta(days=10) - world.today).days)
    result = world.run()
    assert world.mailer.sent() == [] and result.summary["activity_checks"] == {"owner_active": 1}
    assert len(world.tasks(company_id)) == 2


def test_a_quiet_spell_gets_one_series_of_two_tasks_whatever_the_days_after(world: World) -> None:
    company_id = world.quiet_company(130, sirank="9000", contacts=0)
    world.run()
    world.advance(days=10)
    world.run()
    world.advance(days=10)
    world.run()
    tasks_after_series = len(world.tasks(company_id))
    # same quiet spell: no new series, whatever the days
    world.advance(days=80)
    world.run()
    assert len(world.tasks(company_id)) == tasks_after_series == 2


def test_the_first_run_creates_the_daily_pace_and_the_backlog_drains_without_doubles(world: World) -> None:
    world.ports.settings.cold = world.ports.settings.cold.model_copy(update={"daily_new_deals": 4})
    ids = [world.quiet_company(200 + i, f"Azienda {i}", contacts=0) for i in range(10)]

    first = world.run()  # Monday
    again = world.run()  # a repeated run the same day stays within the pace
    world.advance(days=1)
    tuesday = world.run()
    world.advance(days=1)
    wednesday = world.run()

    assert [r.summary["deals_created"] for r in (first, again, tuesday, wednesday)] == [4, 0, 4, 2]
    assert [r.summary["backlog"] for r in (first, again, tuesday, wednesday)] == [6, 6, 2, 0]
    assert first.summary["backlog_business_days"] == 2
    assert first.summary["backlog_cleared_by"] == "2026-12-02"
    per_company = [c for d in world.wakeup_deals() for c in d.associations["companies"]]
    assert sorted(per_company) == sorted(ids)


@pytest.mark.parametrize("day", [date(2026, 12, 5), date(2026, 12, 6), date(2026, 12, 8)])
def test_no_wakeup_deal_is_created_on_a_weekend_or_a_holiday(world: World, day: date) -> None:
    world.advance(days=(day - AS_OF).days)  # Saturday, Sunday, the Immacolata
    ids = [world.quiet_company(300 + i, f"Azienda {i}", contacts=0) for i in range(3)]

    result = world.run()

    assert not ITALIAN.is_business_day(day)
    assert world.wakeup_deals() == [] and result.summary["backlog"] == 3
    assert all(world.crm.get("companies", c).properties["wakeup_eligible"] == "true" for c in ids)


def test_the_most_valuable_cold_companies_go_first(world: World) -> None:
    world.ports.settings.cold = world.ports.settings.cold.model_copy(update={"daily_new_deals": 2})
    small = world.quiet_company(300, "Piccola")
    big = world.quiet_company(300, "Grande")
    world.crm.add_order(big, 50_000.0, AS_OF - timedelta(days=900))
    recent = world.quiet_company(200, "Recente")
    world.run()
    chosen = {c for d in world.wakeup_deals() for c in d.associations["companies"]}
    assert chosen == {big, recent} and small not in chosen


def test_a_company_that_orders_while_queued_leaves_the_queue_and_the_list(world: World) -> None:
    world.ports.settings.cold = world.ports.settings.cold.model_copy(update={"daily_new_deals": 1})
    first = world.quiet_company(300, "Prima")
    world.crm.add_order(first, 9000.0, AS_OF - timedelta(days=400))
    queued = world.quiet_company(300, "In coda")
    world.run()
    assert world.crm.get("companies", queued).properties["wakeup_eligible"] == "true"
    world.crm.add_order(queued, 300.0, world.today)
    world.crm.update_batch("companies", [(queued, {"last_purchase_date": world.today.isoformat()})])

    world.advance(days=1)
    result = world.run()

    assert world.wakeup_deals(queued) == []
    assert result.summary["backlog"] == 0
    assert world.crm.get("companies", queued).properties["wakeup_eligible"] == "false"
    assert world.crm.get("companies", first).properties["wakeup_eligible"] == "true"


def test_wakeup_eligible_is_written_only_when_it_changes(world: World) -> None:
    cold_id = world.quiet_company(300, "Fredda")
    excluded = world.quiet_company(300, "Ente", category="public_administration")
    active = world.quiet_company(20, "Attiva")
    first = world.run()
    second = world.run()
    props = {c: world.crm.get("companies", c).properties.get("wakeup_eligible") for c in (cold_id, excluded, active)}
    assert props == {cold_id: "true", excluded: None, active: None}
    assert first.summary["eligibility_changes"] == 1 and second.summary["eligibility_changes"] == 0
    assert first.summary["wakeup_eligible"] == 1
