"""The effect executor: every deal, task and email happens once, whatever the number of runs or crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.domain.models import Action, CreateTask, NotifyOwner, SendEmail, UpdateCompany
from flywheel.ports import CrmError
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from tests.fakes import mail_settings

NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@pytest.fixture
def crm() -> MemoryCrm:
    return MemoryCrm.with_default_schema()


@pytest.fixture
def ports(crm: MemoryCrm, tmp_path: Path) -> Ports:
    return Ports(
        crm=crm,
        state=MemoryStateStore(),
        mailer=OutboxMailer(tmp_path / "outbox"),
        clock=FixedClock(NOON),
        settings=mail_settings(),
    )


def owner_task(company_id: str, key: str = "cold_segment:1:recontact:2026-03") -> Action:
    return CreateTask(
        company_id=company_id,
        key=key,
        subject="Ricontatta il cliente",
        body="Nessun ordine da 5 mesi",
        due=NOON + timedelta(days=3),
    )


def reactivation_email(company_id: str, contact_id: str) -> Action:
    return SendEmail(
        company_id=company_id,
        contact_id=contact_id,
        key=f"cold_segment:{company_id}:reactivation:2026-03:{contact_id}",
        template="riattivazione",
        context={
            "company_name": "Rossi Informatica",
            "contact_name": "Mario",
            "owner_name": "Giulia Bianchi",
            "ecommerce_url": "https://shop.example.it",
        },
    )


def test_a_task_executed_twice_exists_once(crm: MemoryCrm, ports: Ports) -> None:
    company = crm.add_company("Rossi Informatica")
    executor = EffectExecutor(ports)

    first = executor.execute([owner_task(company)])
    second = executor.execute([owner_task(company)])

    assert len(crm.all("tasks")) == 1
    assert first.total("created") == 1
    assert second.total("skipped_done") == 1
    task = crm.all("tasks")[0]
    assert task.prop("flywheel_key") == "cold_segment:1:recontact:2026-03"
    assert crm.associated_ids("tasks", "companies", [task.id])[task.id] == [company]


def test_a_create_whose_answer_was_lost_is_reconciled_not_repeated(crm: MemoryCrm, ports: Ports) -> None:
    company = crm.add_company("Rossi Informatica")
    crm.fail_next_create(after_effect=True)  # HubSpot created the task, the answer never arrived

    crashed = EffectExecutor(ports).execute([owner_task(company)])
    still_leased = EffectExecutor(ports).execute([owner_task(company)])
    assert isinstance(ports.clock, FixedClock)
    ports.clock.set(NOON + timedelta(seconds=ports.settings.effect_lease_seconds + 1))
    after_lease = EffectExecutor(ports).execute([owner_task(company)])

    assert crashed.transient_failures == 1
    assert still_leased.total("skipped_held") == 1
    assert after_lease.total("found_existing") == 1
    assert len(crm.all("tasks")) == 1
    done = ports.state.lookup("cold_segment:1:recontact:2026-03")
    assert done is not None and done.status == "done"


def test_a_create_refused_by_hubspot_frees_its_key_for_the_next_run(crm: MemoryCrm, ports: Ports) -> None:
    company = crm.add_company("Rossi Informatica")
    crm.fail_next_create(CrmError("property does not exist", status=400))

    refused = EffectExecutor(ports).execute([owner_task(company)])
    retried = EffectExecutor(ports).execute([owner_task(company)])

    assert refused.total("failed") == 1
    assert retried.total("created") == 1
    assert len(crm.all("tasks")) == 1


def test_an_email_goes_once_to_a_consenting_contact(crm: MemoryCrm, ports: Ports, tmp_path: Path) -> None:
    company = crm.add_company("Rossi Informatica")
    contact = crm.add_contact(company, "mario@rossi.example.it")

    first = EffectExecutor(ports).execute([reactivation_email(company, contact)])
    second = EffectExecutor(ports).execute([reactivation_email(company, contact)])

    assert first.total("sent") == 1
    assert second.total("skipped_done") == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


@pytest.mark.parametrize(
    ("email", "opted_out", "legal_basis", "reason"),
    [
        (None, False, "Legitimate interest – existing customer", "no_email"),
        ("anna@example.it", True, "Legitimate interest – existing customer", "opted_out"),
        ("anna@example.it", False, None, "no_legal_basis"),
    ],
)
def test_no_email_without_consent_and_the_key_stays_free(
    crm: MemoryCrm,
    ports: Ports,
    tmp_path: Path,
    email: str | None,
    opted_out: bool,
    legal_basis: str | None,
    reason: str,
) -> None:
    company = crm.add_company("Rossi Informatica")
    contact = crm.add_contact(company, email, opted_out=opted_out, legal_basis=legal_basis)
    if email is None:
        crm.update_batch("contacts", [(contact, {"email": ""})])

    report = EffectExecutor(ports).execute([reactivation_email(company, contact)])

    assert report.total(f"refused_{reason}") == 1
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))
    assert ports.state.lookup(f"cold_segment:{company}:reactivation:2026-03:{contact}") is None


def test_property_updates_go_out_in_batches_of_one_hundred(crm: MemoryCrm, ports: Ports) -> None:
    companies = [crm.add_company(f"Azienda {n}") for n in range(250)]
    updates = [UpdateCompany(company_id=c, properties={"sirank": "42"}) for c in companies]
    calls_before = crm.calls_made

    report = EffectExecutor(ports).execute(updates)

    assert crm.calls_made - calls_before == 3
    assert report.total("updated") == 250
    assert {crm.get("companies", c).prop("sirank") for c in companies} == {"42"}


def test_an_effect_that_is_not_naturally_idempotent_cannot_be_decided_without_a_key(crm: MemoryCrm) -> None:
    company = crm.add_company("Rossi Informatica")

    with pytest.raises(ValidationError, match="key"):
        CreateTask(company_id=company, subject="x")  # type: ignore[call-arg]


def test_an_owner_alert_is_an_email_to_the_owner_once_whatever_the_contacts_consent(
    crm: MemoryCrm, ports: Ports, tmp_path: Path
) -> None:
    company = crm.add_company("Rossi Informatica")
    owner = ports.schema.owners[0]
    alert = NotifyOwner(
        company_id=company,
        key=f"cart_watch:{company}:alert:v1",
        owner_id=owner.id,
        subject="Carrello abbandonato sopra 2.000,00 €: Rossi Informatica - 2.480,00 €",
        body="Contenuto: 2 x Notebook",
    )

    first = EffectExecutor(ports).execute([alert])
    again = EffectExecutor(ports).execute([alert])

    [sent] = OutboxMailer(tmp_path / "outbox").sent()
    assert (sent.to_email, sent.subject) == (owner.email, alert.subject)
    assert first.as_dict() == {"sent:notify_owner": 1}
    assert again.as_dict() == {"skipped_done:notify_owner": 1}
    assert crm.all("tasks") == []  # the task is the service's own CreateTask, not the alert
