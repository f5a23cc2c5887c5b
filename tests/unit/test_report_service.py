"""The report service over in-memory ports: what it reads, how the owner filter narrows it, and the touches the
effect executor records for the attribution."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.domain.models import CreateDeal, CreateTask, NotifyOwner, SendEmail, UpdateCompany
from flywheel.errors import BadInput
from flywheel.ports import EmailMessage, MailerError, SendReceipt, SequenceRecord
from flywheel.services import nurture
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.report import build_report, touches
from flywheel.services.report.build import NURTURE_KIND
from tests.fakes import Inbox, mail_settings


@pytest.fixture
def crm() -> MemoryCrm:
    return MemoryCrm.with_default_schema()


@pytest.fixture
def ports(crm: MemoryCrm, now: datetime) -> Ports:
    return Ports(
        crm=crm,
        state=MemoryStateStore(),
        mailer=Inbox(),
        clock=FixedClock(now),
        settings=mail_settings(),
    )


def email(company_id: str, contact_id: str, key: str, template: str = "riattivazione") -> SendEmail:
    return SendEmail(
        company_id=company_id,
        contact_id=contact_id,
        key=key,
        template=template,
        context={
            "company_name": "Rossi Informatica",
            "contact_name": "Mario",
            "owner_name": "Giulia Bianchi",
            "ecommerce_url": "https://shop.example.it",
        },
    )


def touch_documents(ports: Ports) -> dict[str, dict[str, Any]]:
    return dict(ports.state.iter_documents(touches.COLLECTION))


# --- touches recorded by the executor --------------------------------------------------------------------------


def test_an_email_sent_is_one_touch_of_its_flow_on_the_day_it_went(crm: MemoryCrm, ports: Ports, today: date) -> None:
    company = crm.add_company("Rossi Informatica")
    contact = crm.add_contact(company, "mario@rossi.example.it")
    key = f"cold_segment:{company}:reactivation:2026-01-10:{contact}"

    EffectExecutor(ports).execute([email(company, contact, key)])
    EffectExecutor(ports).execute([email(company, contact, key)])  # done already: no second touch

    assert touch_documents(ports) == {key: {"company_id": company, "flow": "riattivazione", "day": today.isoformat()}}


def test_a_wakeup_deal_and_a_recontact_task_are_touches_an_appointment_task_and_an_alert_are_not(
    crm: MemoryCrm, ports: Ports
) -> None:
    company = crm.add_company("Rossi Informatica")
    actions = [
        CreateDeal(company_id=company, key=f"cold_segment:{company}:wakeup:2026-01-10", properties={"dealname": "WU"}),
        CreateTask(company_id=company, key=f"cold_segment:{company}:recontact:2026-01-10", subject="Ricontatta"),
        CreateTask(company_id=company, key=f"cold_segment:{company}:appointment:9:senza-data", subject="Visita"),
        NotifyOwner(company_id=company, key="cart_watch:cart-5:alert:1", subject="Carrello"),
        UpdateCompany(company_id=company, properties={"sirank": "10"}),
    ]

    EffectExecutor(ports).execute(actions)

    flows = sorted(document["flow"] for document in touch_documents(ports).values())
    assert flows == ["recontact", "wakeup"]


def test_an_email_refused_for_consent_is_no_touch(crm: MemoryCrm, ports: Ports) -> None:
    company = crm.add_company("Rossi Informatica")
    contact = crm.add_contact(company, "mario@rossi.example.it", opted_out=True)

    report = EffectExecutor(ports).execute(
        [email(company, contact, f"cold_segment:{company}:reactivation:x:{contact}")]
    )

    assert [outcome.split(":")[0] for outcome in report.outcomes] == ["refused_opted_out"]
    assert touch_documents(ports) == {}


class _LostAnswers(Inbox):
    """The first send times out after the message may have gone; nothing can tell afterwards."""

    def send(self, message: EmailMessage) -> SendReceipt:
        raise MailerError("timeout", transient=True, nothing_sent=False)

    def recover(self, message: EmailMessage) -> SendReceipt | None:
        return None


def test_an_email_whose_outcome_is_unknown_is_no_touch(crm: MemoryCrm, ports: Ports, now: datetime) -> None:
    company = crm.add_company("Rossi Informatica")
    contact = crm.add_contact(company, "mario@rossi.example.it")
    ports.mailer = _LostAnswers()
    action = email(company, contact, f"cold_segment:{company}:reactivation:x:{contact}")

    first = EffectExecutor(ports).execute([action])
    assert isinstance(ports.clock, FixedClock)
    ports.clock.set(now + timedelta(seconds=ports.settings.effect_lease_seconds + 1))
    second = EffectExecutor(ports).execute([action])

    assert first.transient_failures == 1
    assert second.total("uncertain") == 1
    assert touch_documents(ports) == {}


def test_the_nurture_kind_the_report_reads_is_the_one_nurture_writes() -> None:
    assert NURTURE_KIND == nurture.KIND


# --- the report over in-memory ports ---------------------------------------------------------------------------


def test_the_report_reads_orders_line_items_touches_and_the_wakeup_pipeline(
    crm: MemoryCrm, ports: Ports, today: date
) -> None:
    rossi, bianchi = crm.reps[0], crm.reps[1]
    milano = crm.add_company("Milano Srl", owner_id=rossi.id, province="MI", available_credit="1500")
    roma = crm.add_company("Roma Spa", owner_id=bianchi.id, province="")
    recent = crm.add_order(milano, 1200.50, today - timedelta(days=3))
    crm.add_order(milano, 800, today - timedelta(days=400))
    crm.add_order(roma, 99.99, today - timedelta(days=40))
    crm.add_order(roma, 5000, today - timedelta(days=10), won=False)  # lost: not an order
    crm.add("line_items", {"name": "Notebook 14", "quantity": "2", "price": "600.25"}, {"deals": [recent]})
    c = crm.contract
    crm.add_deal(roma, pipeline=c.wakeup_pipeline, stage=c.wakeup_stage_contacted)
    crm.add_deal(milano, pipeline=c.wakeup_pipeline, stage=c.wakeup_stage_won)  # closed: not open
    ports.state.put_documents(
        touches.COLLECTION,
        {"k1": {"company_id": milano, "flow": "cashback", "day": (today - timedelta(days=5)).isoformat()}},
    )

    report = build_report(ports, today)

    companies = {row["id"]: row for row in report["companies"]}
    assert companies[milano]["last_purchase_date"] == (today - timedelta(days=3)).isoformat()
    assert companies[milano]["owner_email"] == rossi.email
    assert companies[roma]["last_purchase_date"] == (today - timedelta(days=40)).isoformat()
    assert report["kpis"]["active_customers"] == 2
    assert report["silent_30"] == [roma]
    assert report["credit_available"] == [milano]
    assert set(report["revenue_by_province"]) == {"MI", "??"}
    assert report["products_sold"] == [
        {
            "product": "Notebook 14",
            "quantity": 2.0,
            "unit_price": 600.25,
            "company_id": milano,
            "company": "Milano Srl",
            "owner_id": rossi.id,
            "order_date": (today - timedelta(days=3)).isoformat(),
        }
    ]
    cashback = report["attribution"]["flows"]["cashback"]
    assert cashback["linear"] == cashback["last_interaction"] == {"orders": 1.0, "revenue": 1200.5}
    stages = {s["label"]: s["deals"] for s in report["wakeup_pipeline"]}
    assert stages == {"Da contattare": 0, "Contattato": 1, "Interessato": 0, "Appuntamento fissato": 0}
    assert {o["email"] for o in report["owners"]} == {rossi.email, bianchi.email}


def test_the_owner_filter_keeps_that_owners_companies_only(crm: MemoryCrm, ports: Ports, today: date) -> None:
    rossi, bianchi = crm.reps[0], crm.reps[1]
    mine = crm.add_company("Milano Srl", owner_id=rossi.id)
    theirs = crm.add_company("Roma Spa", owner_id=bianchi.id)
    crm.add_order(mine, 100, today)
    crm.add_order(theirs, 900, today)
    c = crm.contract
    crm.add_deal(theirs, pipeline=c.wakeup_pipeline, stage=c.wakeup_stage_new)

    report = build_report(ports, today, owner=rossi.email.upper())

    assert report["owner"] == rossi.email
    assert [row["id"] for row in report["companies"]] == [mine]
    assert report["owners"] == [{"id": rossi.id, "email": rossi.email, "name": rossi.full_name}]
    assert report["months"][-1]["revenue"] == 100.0
    assert sum(s["deals"] for s in report["wakeup_pipeline"]) == 0


def test_an_unknown_owner_is_bad_input(ports: Ports, today: date) -> None:
    with pytest.raises(BadInput):
        build_report(ports, today, owner="nessuno@sicomputer.it")


def test_the_nurture_funnel_counts_active_and_ended_enrolments(crm: MemoryCrm, ports: Ports, today: date) -> None:
    a, b, c = (crm.add_company(name) for name in ("A", "B", "C"))
    state = ports.state
    state.put_sequence(SequenceRecord(NURTURE_KIND, f"{a}:1", a, "active", 2, today + timedelta(days=3)))
    state.put_sequence(SequenceRecord(NURTURE_KIND, f"{b}:1", b, "converted", 1, None))
    state.put_sequence(SequenceRecord(NURTURE_KIND, f"{c}:1", c, "completed", 5, None))
    # the ended ones are found through the companies a nurture email reached
    day = today.isoformat()
    state.put_documents(
        touches.COLLECTION,
        {
            f"nurture_step:{b}:x:1:9": {"company_id": b, "flow": "nurture", "day": day},
            f"nurture_step:{c}:x:5:9": {"company_id": c, "flow": "nurture", "day": day},
        },
    )

    funnel = build_report(ports, today)["nurture_funnel"]

    assert funnel == {"step_1": 3, "step_2": 2, "step_3": 1, "step_4": 1, "step_5": 1, "converted": 1}


def test_every_report_value_is_plain_json(crm: MemoryCrm, ports: Ports, today: date) -> None:
    import json

    company = crm.add_company("Milano Srl", province="MI", available_credit="10")
    crm.add_order(company, 10, today)

    report = build_report(ports, today)

    assert json.loads(json.dumps(report)) == report


def test_a_task_found_in_hubspot_after_a_lost_answer_is_one_touch(crm: MemoryCrm, ports: Ports, now: datetime) -> None:
    company = crm.add_company("Rossi Informatica")
    task = CreateTask(company_id=company, key=f"cold_segment:{company}:recontact:2026-01-10", subject="Ricontatta")
    crm.fail_next_create(after_effect=True)  # HubSpot created the task, the answer never arrived

    EffectExecutor(ports).execute([task])
    assert touch_documents(ports) == {}
    assert isinstance(ports.clock, FixedClock)
    ports.clock.set(now + timedelta(days=1))
    found = EffectExecutor(ports).execute([task])

    assert found.total("found_existing") == 1
    day = (now + timedelta(days=1)).date().isoformat()
    assert touch_documents(ports) == {task.key: {"company_id": company, "flow": "recontact", "day": day}}


def test_a_touch_redone_by_reconciliation_keeps_the_day_it_was_first_recorded(ports: Ports, today: date) -> None:
    task = CreateTask(company_id="7", key="cold_segment:7:recontact:2026-01-10", subject="Ricontatta")

    assert touches.record(ports.state, task, task.key, "created", today)
    assert touches.record(ports.state, task, task.key, "found_existing", today + timedelta(days=3))

    assert touch_documents(ports)[task.key]["day"] == today.isoformat()
