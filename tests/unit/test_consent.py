"""The consent gate: an address that is really an address, no opt-out, and a legal basis on the allow-list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import ConsentRules, Settings
from flywheel.domain.models import Contact, SendEmail
from flywheel.mail.consent import ConsentPolicy, consent_refusal, may_email
from flywheel.services import nurture
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from sandbox.schema import LEGAL_BASIS_VALUES
from tests.fakes import Inbox, mail_settings, nurture_rules

DEFAULT = ConsentPolicy.from_rules(ConsentRules())
ALLOWED = [value for value in LEGAL_BASIS_VALUES if value != "Not applicable"]
EXISTING_CUSTOMER = "Legitimate interest – existing customer"
REFUSALS = {None, "no_email", "invalid_email", "opted_out", "no_legal_basis", "legal_basis_not_allowed"}


def contact(
    email: str | None = "mario.rossi@rossi-informatica.it", legal_basis: str | None = EXISTING_CUSTOMER
) -> Contact:
    return Contact(id="1", email=email, first_name="Mario", legal_basis=legal_basis)


# --- legal basis --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("legal_basis", ALLOWED)
def test_every_hubspot_legal_basis_but_not_applicable_allows_email_by_default(legal_basis: str) -> None:
    assert consent_refusal(contact(legal_basis=legal_basis), DEFAULT) is None


def test_not_applicable_is_no_legal_basis_for_an_email() -> None:
    assert consent_refusal(contact(legal_basis="Not applicable"), DEFAULT) == "legal_basis_not_allowed"


@pytest.mark.parametrize("legal_basis", [None, "", " ", ";", " ; ;"])
def test_a_contact_without_any_legal_basis_is_refused(legal_basis: str | None) -> None:
    assert consent_refusal(contact(legal_basis=legal_basis), DEFAULT) == "no_legal_basis"


def test_a_value_hubspot_does_not_know_is_not_a_legal_basis() -> None:
    assert consent_refusal(contact(legal_basis="yes"), DEFAULT) == "legal_basis_not_allowed"


# hs_legal_basis is a multiple checkbox: HubSpot joins the ticked values with ";"
@given(
    allowed=st.sampled_from(ALLOWED),
    others=st.lists(st.sampled_from(["Not applicable", "", " ", "unknown"]), max_size=3),
    position=st.integers(min_value=0, max_value=3),
    padding=st.sampled_from(["", " ", "  "]),
)
def test_one_allowed_value_among_several_is_enough(
    allowed: str, others: list[str], position: int, padding: str
) -> None:
    values = [*others]
    values.insert(min(position, len(values)), allowed)

    assert may_email(contact(legal_basis=f"{padding};{padding}".join(values)), DEFAULT)


@given(st.lists(st.sampled_from(["Not applicable", "", " ", "unknown"]), min_size=1, max_size=4))
def test_only_values_off_the_list_are_never_enough(values: list[str]) -> None:
    assert not may_email(contact(legal_basis=";".join(values)), DEFAULT)


# HubSpot itself spells its labels with en dashes and hyphens alike; a portal import may change case or dashes
@given(
    allowed=st.sampled_from(ALLOWED),
    dash=st.sampled_from(["-", "–", "—", "‐", "−"]),
    recase=st.sampled_from([str.lower, str.upper, str.title, str]),
    spaces=st.sampled_from([" ", "  ", "\u00a0"]),
)
def test_case_dashes_and_spacing_do_not_change_a_legal_basis(
    allowed: str, dash: str, recase: Callable[[str], str], spaces: str
) -> None:
    spelled = recase(allowed.replace("–", dash).replace("-", dash).replace(" ", spaces))

    assert may_email(contact(legal_basis=f" {spelled} "), DEFAULT)


def test_the_allow_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_CONSENT__ALLOWED_LEGAL_BASES", '["Freely given consent from contact"]')

    policy = ConsentPolicy.from_settings(Settings())

    assert may_email(contact(legal_basis="Freely given consent from contact"), policy)
    assert consent_refusal(contact(legal_basis=EXISTING_CUSTOMER), policy) == "legal_basis_not_allowed"


def test_an_empty_allow_list_lets_no_email_through() -> None:
    policy = ConsentPolicy.from_rules(ConsentRules(allowed_legal_bases=[]))

    assert all(not may_email(contact(legal_basis=value), policy) for value in LEGAL_BASIS_VALUES)


# --- address ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", [None, "", "   "])
def test_a_contact_without_an_address_is_refused(email: str | None) -> None:
    assert consent_refusal(contact(email=email), DEFAULT) == "no_email"


@pytest.mark.parametrize(
    "email",
    [
        "mario@",
        "@rossi.it",
        "mario@@rossi.it",
        "mario rossi@rossi.it",
        "mario..rossi@rossi.it",
        ".mario@rossi.it",
        "mario@rossi",
        "mario@rossi..it",
        "mario@-rossi.it",
        "mario@localhost",
        "mario@rossi.test",
        "mario@[192.168.1.1]",
        "Mario Rossi <mario@rossi.it>",
        "mario@rossi.it, anna@rossi.it",
        "mario@rossi.it;anna@rossi.it",
        " mario@rossi.it",
        "mario@rossi.it\n",
        "mario@rossi.it\r\nBcc: all@example.it",
        '"mario rossi"@rossi.it',
    ],
)
def test_an_address_that_is_not_one_is_refused(email: str) -> None:
    assert consent_refusal(contact(email=email), DEFAULT) == "invalid_email"


@pytest.mark.parametrize(
    "email",
    [
        "MARIO.ROSSI@ROSSI-INFORMATICA.IT",
        "mario.rossi+ordini@rossi-informatica.it",
        "o'brien@example.it",
        "acquisti_2026@sub.dominio.example.it",
        "info@caffè.it",
    ],
)
def test_unusual_but_valid_addresses_pass(email: str) -> None:
    assert may_email(contact(email=email), DEFAULT)


@given(st.emails())
def test_any_well_formed_address_passes(email: str) -> None:
    assert may_email(contact(email=email), DEFAULT)


@given(st.text(alphabet=st.characters(exclude_characters="@")))
def test_text_without_an_at_sign_never_passes(email: str) -> None:
    assert consent_refusal(contact(email=email), DEFAULT) in {"no_email", "invalid_email"}


@given(email=st.one_of(st.none(), st.text()), legal_basis=st.one_of(st.none(), st.text()), opted_out=st.booleans())
def test_the_gate_answers_any_input_with_a_known_reason(
    email: str | None, legal_basis: str | None, opted_out: bool
) -> None:
    person = Contact(id="1", email=email, legal_basis=legal_basis, opted_out=opted_out)

    assert consent_refusal(person, DEFAULT) in REFUSALS


def test_an_opted_out_contact_is_refused_whatever_its_legal_basis() -> None:
    person = Contact(id="1", email="anna@example.it", legal_basis=EXISTING_CUSTOMER, opted_out=True)

    assert consent_refusal(person, DEFAULT) == "opted_out"


# --- the gate where emails go out -----------------------------------------------------------------------------------


START = date(2026, 3, 2)


def ports_for(crm: MemoryCrm, inbox: Inbox, settings: Settings) -> Ports:
    return Ports(crm=crm, state=MemoryStateStore(), mailer=inbox, clock=FixedClock.on(START), settings=settings)


def test_the_executor_refuses_an_email_the_configured_allow_list_does_not_cover(tmp_path: Path) -> None:
    crm = MemoryCrm.with_default_schema()
    inbox = Inbox()
    settings = mail_settings(consent=ConsentRules(allowed_legal_bases=["Freely given consent from contact"]))
    company = crm.add_company("Rossi Informatica")
    customer = crm.add_contact(company, "mario@rossi.example.it", legal_basis=EXISTING_CUSTOMER)
    email = SendEmail(
        company_id=company,
        contact_id=customer,
        key=f"cold_segment:{company}:reactivation:2026-03:{customer}",
        template="riattivazione",
        context={"company_name": "Rossi Informatica", "contact_name": "Mario", "owner_name": "Giulia Bianchi"},
    )

    report = EffectExecutor(ports_for(crm, inbox, settings)).execute([email])

    assert report.total("refused_legal_basis_not_allowed") == 1
    assert inbox.sent == []


def test_nurture_writes_only_to_contacts_with_a_valid_address_and_an_allowed_legal_basis() -> None:
    crm = MemoryCrm.with_default_schema(now=FixedClock.on(START).now)
    inbox = Inbox()
    settings = mail_settings(nurture=nurture_rules(recipients="all"))
    last = START - timedelta(days=61)
    company = crm.add_company("Bianchi Sistemi", **{settings.portal.last_purchase_date: last.isoformat()})
    crm.add_order(company, 900.0, last)
    crm.add_contact(company, "senza.base@bianchi.it", legal_basis="Not applicable")
    crm.add_contact(company, "acquisti@bianchi", legal_basis=EXISTING_CUSTOMER)
    kept = crm.add_contact(company, "anna@bianchi.it", legal_basis="Not applicable;Performance of a contract")

    nurture.run(nurture.Request(as_of=START), ports_for(crm, inbox, settings))

    assert [(m.contact_id, m.template) for m in inbox.sent] == [(kept, "nurture_1")]
