"""The repo's templates as HubSpot marketing emails: placeholders become personalization tokens, and the custom
properties the mailer sends fill them into exactly the words the outbox would send."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.mail.hubspot_emails import (
    PASSTHROUGH_TEMPLATES,
    custom_properties,
    email_name,
    hubspot_email,
    hubspot_emails,
    hubspot_tokens,
    template_of,
)
from flywheel.mail.templates import OPTIONAL, TEMPLATES, render

TOKEN = re.compile(r"\{\{ custom\.([a-z_][a-z0-9_]*) \}\}")


def hubspot_fills(text: str, properties: Mapping[str, str]) -> str:
    """What HubSpot does with `{{ custom.NAME }}` at send time: the custom property's value (empty if absent)."""
    return TOKEN.sub(lambda match: properties.get(match.group(1), ""), text)


def tokens_of(text: str) -> set[str]:
    return set(TOKEN.findall(text))


# any text a customer's data may hold, dollar and braces included
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


def test_placeholders_become_custom_tokens_and_a_doubled_dollar_a_dollar() -> None:
    assert hubspot_tokens("Gentile ${contact_name}, $$5 per $company_name") == (
        "Gentile {{ custom.contact_name }}, $5 per {{ custom.company_name }}"
    )


def test_there_is_one_email_per_template_and_one_for_the_owner_alert() -> None:
    names = [email.name for email in hubspot_emails()]

    assert sorted(names) == sorted(email_name(t) for t in [*TEMPLATES, *PASSTHROUGH_TEMPLATES])
    assert len(set(names)) == len(names)
    assert email_name("nurture_1") == "flywheel: nurture_1"


@pytest.mark.parametrize("name", ["flywheel: nurture_1", "flywheel: avviso_proprietario"])
def test_our_names_lead_back_to_their_template(name: str) -> None:
    assert template_of(name) == name.removeprefix("flywheel: ")


@pytest.mark.parametrize("name", ["Newsletter lunedì", "Flywheel: nurture_1", "nurture_1", ""])
def test_anyone_elses_email_is_not_ours(name: str) -> None:
    assert template_of(name) is None


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_no_placeholder_of_ours_is_left_in_hubspot_and_no_hubl_but_our_tokens(template: str) -> None:
    email = hubspot_email(template)

    for text in (email.subject, email.plain_text, email.html):
        assert "${" not in text
        without_tokens = TOKEN.sub("", text)
        assert "{{" not in without_tokens and "{%" not in without_tokens and "}}" not in without_tokens


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_token_has_a_custom_property(template: str) -> None:
    email = hubspot_email(template)
    context = dict.fromkeys(TEMPLATES[template], "x")

    sent = custom_properties(template, context)

    assert tokens_of(email.subject) | tokens_of(email.plain_text) | tokens_of(email.html) <= set(sent)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@given(data=st.data())
def test_hubspot_says_exactly_what_the_outbox_says(template: str, data: st.DataObject) -> None:
    keys = [*TEMPLATES[template], *OPTIONAL.get(template, ())]
    context = {key: data.draw(values, label=key) for key in keys}
    email = hubspot_email(template)

    properties = custom_properties(template, context)

    subject, body = render(template, context)
    assert hubspot_fills(email.subject, properties) == subject
    assert hubspot_fills(email.plain_text, properties) == body


def test_a_blank_contact_name_is_filled_as_the_outbox_fills_it() -> None:
    context = dict.fromkeys(TEMPLATES["nurture_1"], "Rossi") | {"contact_name": "  "}

    assert custom_properties("nurture_1", context)["contact_name"] == "Cliente"


def test_the_reactivation_invitation_is_sent_ready_made() -> None:
    context = dict.fromkeys(TEMPLATES["riattivazione"], "x")
    with_link = custom_properties("riattivazione", context | {"meeting_url": "https://meetings.hubspot.com/marco"})
    without = custom_properties("riattivazione", context)

    assert "https://meetings.hubspot.com/marco" in with_link["invitation"]
    assert "rispondere a questa email" in without["invitation"]
    assert "{{ custom.invitation }}" in hubspot_email("riattivazione").plain_text


def test_the_owner_alert_carries_its_own_subject_and_text() -> None:
    email = hubspot_email("avviso_proprietario")

    properties = custom_properties(
        "avviso_proprietario", {}, subject="Carrello abbandonato: Rossi", body="Totale 3.200"
    )

    assert hubspot_fills(email.subject, properties) == "Carrello abbandonato: Rossi"
    assert hubspot_fills(email.plain_text, properties) == "Totale 3.200"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_the_html_body_is_the_plain_text_in_paragraphs_escaped(template: str) -> None:
    email = hubspot_email(template)

    paragraphs = re.findall(r"<p>(.*?)</p>", email.html, flags=re.DOTALL)
    as_text = "\n\n".join(html.unescape(p.replace("<br>\n", "\n")) for p in paragraphs)

    assert "<" not in "".join(paragraphs).replace("<br>", "")
    assert as_text == "\n\n".join(p for p in email.plain_text.strip("\n").split("\n\n") if p.strip())
