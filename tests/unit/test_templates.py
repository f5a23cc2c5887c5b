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
    "unsubscribe_url": "https://europe-west1-flywheel.cloudfunctions.net/unsubscribe?c=2001&e=2027-03-31&s=SIG",
    "cashback_amount": "1.234,50 €",
    "expiry_date": "30/11/2026",
    "month_revenue": "3.600,00 €",
    "missing_amount": "1.400,00 €",
    "threshold_amount": "5.000,00 €",
    "month_end": "30/11/2026",
    "level_name": "Silver",
    "revenue_12m": "13.800,00 €",
    "cart_lines": "- 2 x Notebook HP ProBook 450 (1.658,00 €)",
    "cart_total": "1.658,00 €",
    "cart_url": "https://shop.sicomputer.it/carrello/C100001",
}


def context_for(template: str) -> dict[str, str]:
    return {key: SAMPLE[key] for key in TEMPLATES[template]}


def test_the_six_emails_of_the_product_are_there() -> None:
    assert set(TEMPLATES) == {
        "nurture_1",
        "nurture_2",
        "nurture_3",
        "nurture_4",
        "nurture_5",
        "riattivazione",
        "cashback_promemoria",
        "cashback_soglia",
        "dp_congratulazioni",
        "dp_progresso",
        "carrello_abbandonato",
    }


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
        ("cashback_promemoria", "Rossi Informatica S.r.l., il tuo cashback di 1.234,50 € scade il 30/11/2026"),
        ("cashback_soglia", "Rossi Informatica S.r.l., ti mancano 1.400,00 € per il cashback"),
        ("dp_congratulazioni", "Congratulazioni Rossi Informatica S.r.l.: sei Dealer & Partner Silver!"),
        ("dp_progresso", "Rossi Informatica S.r.l., sei vicino al livello Silver"),
        ("carrello_abbandonato", "Rossi Informatica S.r.l., hai lasciato dei prodotti nel carrello"),
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


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_email_ends_with_its_unsubscribe_link_and_never_asks_for_a_reply_to_leave(template: str) -> None:
    _, body = render(template, context_for(template))

    footer = body.split("\n--\n", 1)[1]
    assert f"Annulla l'iscrizione con un clic: {SAMPLE['unsubscribe_url']}" in footer
    assert "rispondi" not in footer and "cancelleremo" not in footer


def test_the_fourth_email_recaps_the_shop_the_gift_and_the_survey_and_says_when_the_coupon_expires() -> None:
    _, body = render("nurture_4", context_for("nurture_4"))

    assert "riepilogo" in body
    assert "https://shop.sicomputer.it" in body
    assert "il coupon SICOM-7Q4K2M" in body
    assert "https://shop.sicomputer.it/sondaggio" in body
    assert "Il coupon scade il 31/03/2026" in body


def test_the_reactivation_email_offers_the_owner_s_booking_page_when_there_is_one() -> None:
    booking = "https://meetings.hubspot.com/marco-bianchi"

    _, with_page = render("riattivazione", {**context_for("riattivazione"), "meeting_url": booking})
    _, without = render("riattivazione", context_for("riattivazione"))

    assert f"nella mia agenda, {booking}\noppure rispondi a questa email." in with_page
    assert "basta rispondere a questa email" in without and "agenda" not in without


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
