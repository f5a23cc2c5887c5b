"""Associated records, read the way HubSpot's limits want: associations and records in batches of 100."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.services.context import Ports
from flywheel.services.reads import associated_records, contacts_of


def ports_on(crm: MemoryCrm, tmp_path: Path) -> Ports:
    return Ports(crm, MemoryStateStore(), OutboxMailer(tmp_path), FixedClock.on(date(2026, 11, 29)), Settings())


def test_contacts_come_in_association_order_and_archived_ones_are_left_out(tmp_path: Path) -> None:
    crm = MemoryCrm.with_default_schema()
    company = crm.add_company("Rossi Informatica")
    primary = crm.add_contact(company, "primo@rossi.example.it")
    gone = crm.add_contact(company, "ex@rossi.example.it")
    second = crm.add_contact(company, "secondo@rossi.example.it")
    crm.archive("contacts", gone)

    contacts = contacts_of(ports_on(crm, tmp_path), [company])

    assert [c.id for c in contacts[company]] == [primary, second]


def test_every_company_asked_for_gets_an_entry_even_without_associations(tmp_path: Path) -> None:
    crm = MemoryCrm.with_default_schema()
    lonely = crm.add_company("Senza Contatti")

    assert contacts_of(ports_on(crm, tmp_path), [lonely]) == {lonely: []}


def test_two_hundred_fifty_companies_cost_calls_of_one_hundred_not_one_per_company(tmp_path: Path) -> None:
    crm = MemoryCrm.with_default_schema()
    companies = [crm.add_company(f"Azienda {n}") for n in range(250)]
    for company in companies:
        crm.add_contact(company)
    before = crm.calls_made

    linked = associated_records(ports_on(crm, tmp_path), "companies", "contacts", companies, ["email"])

    assert sum(len(records) for records in linked.values()) == 250
    # the v4 associations batch read and the batch read of contacts each take 100 ids a call
    assert crm.calls_made - before == 3 + 3
