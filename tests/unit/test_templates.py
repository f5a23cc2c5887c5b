"""The Italian customer emails render completely, or refuse clearly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.mail.templates import TEMPLATES, TemplateError, render

SAMPLE = {
    "company_name": "Rossi Informatica S.r.l.",
    "contact_name": "Giulia",
    "ecommerce_url": "https://shop.sicomputer.it",
    "coupon_code": "SICOM-7Q4K2M",
    "coupon_expiry": "31/03/2026",
    "survey_url": "https://shop.sicomputer.it/sondaggio",
    "suspension_date": "15/04/2026",
    "owner_name": "Marco Bianchi",
}


def context_for(template: str) -> dict[str, str]:
    return {key: SAMPLE[key] for key in TEMPLATES[template]}


def test_the_six_emails_of_the_product_are_there() -> None:
    assert set(TEMPLATES) == {"nurture_1", "nurture_2", "nurture_3", "nurture_4", "nurture_5", "riattivazione"}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_renders_every_value_of_its_context(template: str) -> None:
    subject, body = render(template, context_for(template))

    for key in TEMPLATES[template]:
        assert SAMPLE[key] in subject + body, f"{template} does not use {key}"
    assert "$" not in subject + body
    assert body.startswith(f"Gentile {SAMPLE['contact_name']},\n")
    assert "SiComputer" in body


@pytest.mark.parametrize(
    ("template", "subject"),
    [
        ("nurture_1", "Ci manchi, Rossi Informatica S.r.l.!"),
        ("nurture_2", "Un regalo esclusivo per te"),
        ("nurture_3", "La tua opinione conta: ci aiuti a migliorare?"),
        ("nurture_4", "Il tuo coupon SICOM-7Q4K2M sta per scadere"),
        ("nurture_5", "Account e-commerce sospeso per motivi di sicurezza"),
        ("riattivazione", "Rossi Informatica S.r.l., ripartiamo insieme?"),
    ],
)
def test_subjects_are_italian(template: str, subject: str) -> None:
    assert render(template, context_for(template))[0] == subject


def test_the_survey_email_links_the_survey_and_the_gift_email_the_coupon() -> None:
    _, survey = render("nurture_3", context_for("nurture_3"))
    _, gift = render("nurture_2", context_for("nurture_2"))

    assert "https://shop.sicomputer.it/sondaggio" in survey
    assert "Il tuo codice: SICOM-7Q4K2M" in gift
    assert "Valido fino al: 31/03/2026" in gift


def test_the_suspension_notice_names_the_date_and_who_restores_the_account() -> None:
    _, body = render("nurture_5", context_for("nurture_5"))

    assert "dal 15/04/2026" in body
    assert "Marco Bianchi" in body


def test_the_reactivation_email_is_signed_by_the_owner() -> None:
    _, body = render("riattivazione", context_for("riattivazione"))

    assert "sono Marco Bianchi" in body
    assert "A presto,\nMarco Bianchi\nSiComputer" in body
    assert "Il team SiComputer" not in body


def test_every_email_says_how_to_stop_receiving_them() -> None:
    for template in TEMPLATES:
        _, body = render(template, context_for(template))
        assert "preferisci non ricevere più" in body


@pytest.mark.parametrize(("template", "key"), [(t, k) for t in sorted(TEMPLATES) for k in TEMPLATES[t]])
def test_a_missing_context_key_is_an_error_naming_template_and_key(template: str, key: str) -> None:
    context = context_for(template)
    del context[key]

    with pytest.raises(TemplateError) as error:
        render(template, context)

    assert template in str(error.value)
    assert repr(key) in str(error.value)


def test_an_unknown_template_is_an_error() -> None:
    with pytest.raises(TemplateError, match="nurture_9"):
        render("nurture_9", SAMPLE)


def test_extra_context_keys_are_ignored() -> None:
    assert render("nurture_1", {**context_for("nurture_1"), "unused": "x"}) == render(
        "nurture_1", context_for("nurture_1")
    )


def test_a_contact_without_a_name_is_greeted_as_a_customer() -> None:
    _, body = render("nurture_1", {**context_for("nurture_1"), "contact_name": "  "})

    assert body.startswith("Gentile Cliente,\n")


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1))
def test_customer_data_is_inserted_verbatim_even_with_template_syntax(name: str) -> None:
    stripped = name.strip()
    context = {**context_for("nurture_1"), "company_name": f"{stripped} ${{x}} {{y}} %s"}

    subject, body = render("nurture_1", context)

    assert context["company_name"].strip() in subject
    assert re.search(r"\$\{[a-z_]+\}", body.replace(context["company_name"].strip(), "")) is None
