"""Emails people can answer and leave: signed unsubscribe links, Reply-To a person, the owner's booking page, and
the nurture coupon that the shop can check from the code alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import ColdRules, MailRules, Settings
from flywheel.domain.models import SendEmail
from flywheel.domain.nurture import check_coupon, coupon_code
from flywheel.errors import ConfigurationError
from flywheel.mail.links import BadLink, unsubscribe_link, verify_unsubscribe
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.subscriptions import unsubscribe
from tests.fakes import Inbox

SECRET = "unit-test-unsubscribe-secret-32-characters"
ENTRY = "https://europe-west1-flywheel.cloudfunctions.net/unsubscribe"
DAY = date(2026, 3, 10)
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
MAIL = MailRules(unsubscribe_secret=SECRET, unsubscribe_url=ENTRY)


# --- signing ---------------------------------------------------------------------------------------------------


def test_a_link_made_with_the_secret_names_its_contact_until_its_last_day() -> None:
    link = unsubscribe_link(ENTRY, SECRET, "2001", DAY + timedelta(days=365))

    assert link.startswith(f"{ENTRY}?c=2001&e=2027-03-10&s=")
    assert verify_unsubscribe(SECRET, link, DAY).contact_id == "2001"
    assert verify_unsubscribe(SECRET, link, DAY + timedelta(days=365)).contact_id == "2001"


def test_an_expired_link_is_refused() -> None:
    link = unsubscribe_link(ENTRY, SECRET, "2001", DAY)

    with pytest.raises(BadLink, match="expired"):
        verify_unsubscribe(SECRET, link, DAY + timedelta(days=1))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: link.replace("c=2001", "c=2002"),  # another contact
        lambda link: link.replace("e=2027-03-10", "e=2099-03-10"),  # a longer life
        lambda link: link[:-1] + ("A" if link[-1] != "A" else "B"),  # a changed signature
        lambda link: link.split("&s=")[0],  # no signature
        lambda link: link.replace("e=2027-03-10", "e=domani"),  # not a date
        lambda link: link + "&c=2003",  # two contacts
    ],
)
def test_a_tampered_link_is_refused(tamper: object) -> None:
    link = unsubscribe_link(ENTRY, SECRET, "2001", date(2027, 3, 10))
    assert callable(tamper)

    with pytest.raises(BadLink):
        verify_unsubscribe(SECRET, tamper(link), DAY)


def test_a_link_signed_with_another_secret_is_refused() -> None:
    link = unsubscribe_link(ENTRY, "another-secret-of-at-least-32-characters", "2001", date(2027, 3, 10))

    with pytest.raises(BadLink):
        verify_unsubscribe(SECRET, link, DAY)


# --- the coupon ------------------------------------------------------------------------------------------------

COUPON_SECRET = "unit-test-coupon-secret-32-characters-long"


@given(company=st.text("0123456789", min_size=1, max_size=10), expires=st.dates(date(2024, 1, 1), date(2040, 1, 1)))
def test_a_coupon_code_tells_its_own_company_its_expiry(company: str, expires: date) -> None:
    code = coupon_code(COUPON_SECRET, "SICOM", company, expires)

    valid = check_coupon(COUPON_SECRET, "SICOM", company, code, expires)
    assert (valid.valid, valid.expires, valid.reason) == (True, expires, None)
    assert check_coupon(COUPON_SECRET, "SICOM", company, code.lower(), expires).valid


def test_a_coupon_after_its_last_day_is_expired() -> None:
    code = coupon_code(COUPON_SECRET, "SICOM", "1042", date(2026, 4, 24))

    answer = check_coupon(COUPON_SECRET, "SICOM", "1042", code, date(2026, 4, 25))

    assert (answer.valid, answer.expires, answer.reason) == (False, date(2026, 4, 24), "expired")


@pytest.mark.parametrize(
    ("company", "code"),
    [
        ("1043", None),  # another company's code
        ("1042", "SICOM-ZZZZ-ABCDEFGHJK"),  # made up
        ("1042", "ALTRO-XXXX"),  # not ours at all
        ("1042", ""),
    ],
)
def test_a_coupon_that_is_not_this_company_s_says_nothing_about_its_expiry(company: str, code: str | None) -> None:
    real = coupon_code(COUPON_SECRET, "SICOM", "1042", date(2026, 4, 24))

    answer = check_coupon(COUPON_SECRET, "SICOM", company, real if code is None else code, DAY)

    assert (answer.valid, answer.expires, answer.reason) == (False, None, "not_this_company")


def test_a_coupon_whose_expiry_was_altered_is_refused() -> None:
    real = coupon_code(COUPON_SECRET, "SICOM", "1042", date(2026, 4, 24))
    later = coupon_code(COUPON_SECRET, "SICOM", "1042", date(2026, 12, 24))
    forged = f"{later[:10]}{real[10:]}"  # the later expiry with the real signature

    assert not check_coupon(COUPON_SECRET, "SICOM", "1042", forged, DAY).valid


# --- the message the executor builds ---------------------------------------------------------------------------


class Portal:
    def __init__(self, settings: Settings) -> None:
        self.crm = MemoryCrm.with_default_schema()
        self.inbox = Inbox()
        self.state = MemoryStateStore()
        self.ports = Ports(self.crm, self.state, self.inbox, FixedClock(NOON), settings)
        self.owner = self.crm.reps[0]
        self.company = self.crm.add_company("Rossi Informatica", owner_id=self.owner.id)
        self.contact = self.crm.add_contact(self.company, "mario@rossi.example.it")

    def email(self, template: str = "riattivazione", step: str = "2026-03") -> SendEmail:
        return SendEmail(
            company_id=self.company,
            contact_id=self.contact,
            key=f"test:{self.company}:{template}:{step}:{self.contact}",
            template=template,
            context={
                "company_name": "Rossi Informatica",
                "contact_name": "Mario",
                "owner_name": self.owner.full_name,
                "ecommerce_url": "https://shop.sicomputer.it",
            },
        )


def test_a_reply_reaches_the_company_s_owner_and_every_email_carries_its_signed_unsubscribe_link() -> None:
    portal = Portal(Settings(mail=MAIL))

    EffectExecutor(portal.ports).execute([portal.email()])

    (message,) = portal.inbox.sent
    assert message.reply_to == portal.owner.email
    assert message.unsubscribe_url is not None
    assert verify_unsubscribe(SECRET, message.unsubscribe_url, DAY).contact_id == portal.contact
    assert f"Annulla l'iscrizione con un clic: {message.unsubscribe_url}" in message.body_text
    assert message.context["unsubscribe_url"] == message.unsubscribe_url  # HubSpot's custom property


def test_the_link_works_for_the_configured_number_of_days() -> None:
    portal = Portal(Settings(mail=MAIL.model_copy(update={"unsubscribe_valid_days": 30})))

    EffectExecutor(portal.ports).execute([portal.email()])

    link = portal.inbox.sent[0].unsubscribe_url or ""
    assert verify_unsubscribe(SECRET, link, DAY + timedelta(days=30)).contact_id == portal.contact
    with pytest.raises(BadLink):
        verify_unsubscribe(SECRET, link, DAY + timedelta(days=31))


def test_a_wake_up_email_is_answered_by_the_sales_assistant() -> None:
    portal = Portal(Settings(mail=MAIL.model_copy(update={"assistant_templates": ["riattivazione"]})))

    EffectExecutor(portal.ports).execute([portal.email()])

    assert portal.inbox.sent[0].reply_to == portal.crm.sales_assistant.email


def test_the_reactivation_email_offers_the_owner_s_booking_page_when_one_is_configured() -> None:
    booking = "https://meetings.hubspot.com/owner-one"
    portal = Portal(Settings(mail=MAIL))
    links = {portal.owner.email.upper(): booking, "altro@sicomputer.it": "https://meetings.hubspot.com/altro"}
    portal.ports.settings = Settings(mail=MAIL, cold=ColdRules(meeting_links=links))

    EffectExecutor(portal.ports).execute([portal.email()])

    (message,) = portal.inbox.sent
    assert f"nella mia agenda, {booking}\noppure rispondi a questa email." in message.body_text
    assert message.context["meeting_url"] == booking


def test_without_a_booking_page_the_reactivation_email_asks_for_a_reply() -> None:
    portal = Portal(Settings(mail=MAIL, cold=ColdRules(meeting_links={"altro@sicomputer.it": "https://x.example"})))

    EffectExecutor(portal.ports).execute([portal.email()])

    (message,) = portal.inbox.sent
    assert "basta rispondere a questa email" in message.body_text
    assert "meeting_url" not in message.context


@pytest.mark.parametrize(
    "mail",
    [
        MailRules(unsubscribe_url=ENTRY),  # no secret
        MailRules(unsubscribe_secret="too-short", unsubscribe_url=ENTRY),
        MailRules(unsubscribe_secret=SECRET),  # nowhere to link to
    ],
)
def test_no_email_goes_out_without_a_working_unsubscribe_link(mail: MailRules) -> None:
    portal = Portal(Settings(mail=mail))
    email = portal.email()

    with pytest.raises(ConfigurationError) as refused:
        EffectExecutor(portal.ports).execute([email])

    assert portal.inbox.sent == []
    assert portal.state.lookup(email.key) is None  # no key claimed: the next run sends once configured
    assert SECRET not in str(refused.value)


def test_the_functions_base_url_is_where_links_point_by_default() -> None:
    portal = Portal(
        Settings(
            public_url="https://europe-west1-flywheel.cloudfunctions.net/",
            mail=MailRules(unsubscribe_secret=SECRET),
        )
    )

    EffectExecutor(portal.ports).execute([portal.email()])

    assert (portal.inbox.sent[0].unsubscribe_url or "").startswith(f"{ENTRY}?c=")


# --- leaving ---------------------------------------------------------------------------------------------------


def test_an_unsubscribed_contact_gets_no_later_email_from_any_function() -> None:
    portal = Portal(Settings(mail=MAIL))
    EffectExecutor(portal.ports).execute([portal.email(step="2026-03")])
    link = verify_unsubscribe(SECRET, portal.inbox.sent[0].unsubscribe_url or "", DAY)

    assert unsubscribe(link.contact_id, portal.ports) == "unsubscribed"
    later = EffectExecutor(portal.ports).execute([portal.email(step="2026-06"), portal.email("nurture_1", "spell")])

    assert portal.crm.get("contacts", portal.contact).properties["hs_email_optout"] == "true"
    assert later.total("refused_opted_out") == 2
    assert len(portal.inbox.sent) == 1


def test_unsubscribing_a_contact_hubspot_no_longer_has_is_not_an_error() -> None:
    portal = Portal(Settings(mail=MAIL))

    assert unsubscribe("999999", portal.ports) == "unknown_contact"


def test_a_company_nobody_owns_is_answered_by_the_sales_assistant() -> None:
    portal = Portal(Settings(mail=MAIL))
    portal.crm.update_batch("companies", [(portal.company, {"hubspot_owner_id": ""})])

    EffectExecutor(portal.ports).execute([portal.email()])

    assert portal.inbox.sent[0].reply_to == portal.crm.sales_assistant.email
