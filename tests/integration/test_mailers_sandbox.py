"""The HubSpot single-send mailer over real HTTP, through hubspot-api-client, against the sandbox portal."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from flywheel.adapters.mailers import HubSpotSingleSendMailer
from flywheel.adapters.ratelimit import RetryPolicy
from flywheel.mail.templates import render
from flywheel.ports import EmailMessage, MailerError

pytestmark = pytest.mark.sandbox

ADDRESS = "giulia.rossi@rossi-informatica.it"
EMAIL_IDS = {"nurture_2": 5002, "riattivazione": 6001}


def gift_email(key: str = "nurture_step:1001:2026-01-15:2") -> EmailMessage:
    context = {
        "company_name": "Rossi Informatica S.r.l.",
        "contact_name": "Giulia",
        "coupon_code": "SICOM-7Q4K2M",
        "coupon_expiry": "31/03/2026",
        "ecommerce_url": "https://shop.sicomputer.it",
        "unsubscribe_url": "https://flywheel.example.it/unsubscribe?c=2001&e=2027-03-31&s=SIG",
    }
    subject, body = render("nurture_2", context)
    return EmailMessage(
        key=key,
        template="nurture_2",
        company_id="1001",
        contact_id="2001",
        to_email=ADDRESS,
        subject=subject,
        body_text=body,
        context=context,
    )


def sandbox_json(server: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def outbox(server: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = sandbox_json(server, "/_sandbox/outbox")["results"]
    return results


def mailer_for(server: Any, *, token: str | None = None, sleep: Callable[[float], None] = lambda _: None) -> Any:
    return HubSpotSingleSendMailer(
        api_base=server.url,
        access_token=token or server.token,
        email_ids=EMAIL_IDS,
        policy=RetryPolicy(max_retries=2),
        sleep=sleep,
    )


def test_a_single_send_reaches_the_portal_with_its_email_id_and_personalisation(
    sandbox_factory: Callable[..., Any],
) -> None:
    server = sandbox_factory()

    receipt = mailer_for(server).send(gift_email())

    (sent,) = outbox(server)
    assert receipt.channel == "hubspot"
    assert receipt.message_id == sent["statusId"]
    assert sent["emailId"] == 5002
    assert sent["message"] == {"to": ADDRESS, "sendId": "nurture_step:1001:2026-01-15:2"}
    assert sent["customProperties"]["coupon_code"] == "SICOM-7Q4K2M"
    assert sent["contactProperties"] == {}


def test_a_resend_of_the_same_key_does_not_send_twice(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory()
    mailer = mailer_for(server)

    first = mailer.send(gift_email())
    again = mailer.send(gift_email())
    mailer.send(gift_email(key="nurture_step:1002:2026-01-15:2"))

    assert first.message_id == again.message_id
    assert [m["message"]["sendId"] for m in outbox(server)] == [
        "nurture_step:1001:2026-01-15:2",
        "nurture_step:1002:2026-01-15:2",
    ]


def test_a_wrong_token_is_a_refusal_not_a_transient_failure(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory()

    with pytest.raises(MailerError) as refused:
        mailer_for(server, token="not-the-token").send(gift_email())

    assert not refused.value.transient
    assert outbox(server) == []


def test_throttling_honours_retry_after_and_ends_transient(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(rate_limit=1)
    waits: list[float] = []
    mailer = mailer_for(server, sleep=waits.append)
    mailer.send(gift_email())

    with pytest.raises(MailerError) as throttled:
        mailer.send(gift_email(key="nurture_step:1002:2026-01-15:2"))

    assert throttled.value.transient and throttled.value.nothing_sent
    assert len(waits) == 2 and all(0 < wait <= 10 for wait in waits)
    assert len(outbox(server)) == 1


def test_a_fault_is_retried_and_the_email_arrives_once(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(fault_rate=1.0)

    def heal_the_portal(_: float) -> None:
        # the first attempt met a 502, 503 or 504 (the latter after the portal sent); the retry finds it healthy
        sandbox_json(server, "/_sandbox/config", {"fault_rate": 0.0})

    mailer_for(server, sleep=heal_the_portal).send(gift_email())

    assert [m["message"]["sendId"] for m in outbox(server)] == ["nurture_step:1001:2026-01-15:2"]
