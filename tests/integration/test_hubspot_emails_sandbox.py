"""The HubSpot marketing emails as code, over real HTTP through hubspot-api-client, against the sandbox portal:
the sandbox's Marketing Emails API v3, provisioning's round trip, and the mailer finding the emails by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hubspot import Client
from hubspot.marketing.emails import EmailCreateRequest, EmailUpdateRequest, PublicEmailContent
from hubspot.marketing.emails.exceptions import ApiException

from flywheel.adapters.mailers import HubSpotSingleSendMailer
from flywheel.adapters.ratelimit import RetryPolicy
from flywheel.mail.hubspot_emails import HubSpotEmail, hubspot_emails
from flywheel.mail.templates import render
from flywheel.ports import EmailMessage, MailerError
from infra import portal as provisioning
from infra.portal import MarketingEmailsApi, PortalApi, Report, Status, provision_marketing_emails

pytestmark = pytest.mark.sandbox

ADDRESS = "giulia.rossi@rossi-informatica.it"
WANTED = hubspot_emails()


def emails_api(server: Any) -> Any:
    return Client.create(access_token=server.token, host=server.url, retry=False).marketing.emails.marketing_emails_api


def provision_emails(server: Any, *, dry_run: bool = False) -> Report:
    report = Report(dry_run=dry_run)
    api = PortalApi(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)
    provision_marketing_emails(MarketingEmailsApi(api), report)
    return report


def statuses(report: Report) -> dict[str, Status]:
    return {finding.subject: finding.status for finding in report.findings}


def email_findings(report: Report) -> dict[str, Status]:
    return {f.subject: f.status for f in report.findings if f.subject.startswith("marketing email ")}


def email_writes(server: Any) -> int:
    """Create and update calls the portal received on its marketing emails."""
    calls: dict[str, int] = server.store.stats()["calls"]["by_endpoint"]
    return sum(n for endpoint, n in calls.items() if "/marketing/v3/emails" in endpoint and "GET" not in endpoint)


def by_name(server: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for email in server.store.marketing_emails.all():
        found.setdefault(email["name"], []).append(email)
    return found


# --- the sandbox speaks the API the client's models expect -----------------------------------------------------


def test_the_sandbox_creates_reads_pages_and_patches_emails_as_the_client_models_them(
    sandbox_factory: Callable[..., Any],
) -> None:
    api = emails_api(sandbox_factory(provisioned=False))
    content = PublicEmailContent(plain_text_version="Ciao {{ custom.contact_name }}", widgets={})

    created = api.create(
        email_create_request=EmailCreateRequest(name="flywheel: prova", subject="Prova", content=content)
    )
    for n in range(104):
        api.create(email_create_request=EmailCreateRequest(name=f"altra {n}", subject="Altra"))
    api.update(str(created.id), email_update_request=EmailUpdateRequest(subject="Prova 2"))

    read = api.get_by_id(str(created.id))
    first = api.get_page(limit=100)
    second = api.get_page(limit=100, after=first.paging.next.after)
    assert (read.name, read.subject, read.content.plain_text_version) == (
        "flywheel: prova",
        "Prova 2",
        "Ciao {{ custom.contact_name }}",
    )
    assert read.updated_at >= read.created_at and read.state == "DRAFT"
    assert first.total == 105 and len(first.results) == 100 and len(second.results) == 5 and second.paging is None
    assert len({e.id for e in first.results + second.results}) == 105


def test_an_unknown_email_is_a_404(sandbox_factory: Callable[..., Any]) -> None:
    with pytest.raises(ApiException) as missing:
        emails_api(sandbox_factory()).get_by_id("999")
    assert missing.value.status == 404


# --- provisioning: the repo is the master ----------------------------------------------------------------------


def test_provisioning_twice_on_a_fresh_sandbox_creates_each_email_once(sandbox_factory: Callable[..., Any]) -> None:
    from flywheel.config import ColdRules, PortalContract

    server = sandbox_factory(provisioned=False)
    api = PortalApi(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)

    first = email_findings(provisioning.provision(api, PortalContract(), cold=ColdRules()))
    writes_after_first = email_writes(server)
    second = email_findings(provisioning.provision(api, PortalContract(), cold=ColdRules()))

    assert set(first.values()) == {Status.CREATED} and len(first) == len(WANTED)
    assert set(second.values()) == {Status.PRESENT} and len(second) == len(WANTED)
    assert writes_after_first == len(WANTED) and email_writes(server) == len(WANTED)  # the second run: no write
    emails = by_name(server)
    assert sorted(emails) == sorted(w.name for w in WANTED)
    assert all(len(same_name) == 1 for same_name in emails.values())
    riattivazione = emails["flywheel: riattivazione"][0]
    assert riattivazione["subject"] == "{{ custom.company_name }}, ripartiamo insieme?"
    assert riattivazione["state"] == "AUTOMATED_DRAFT"
    assert "{{ custom.invitation }}" in riattivazione["content"]["plainTextVersion"]


def test_a_changed_template_updates_that_email_only(
    sandbox_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox_factory(provisioned=False)
    provision_emails(server)
    before = {e["name"]: e for e in server.store.marketing_emails.all()}

    def changed() -> list[HubSpotEmail]:
        return [replace(e, subject="La tua opinione conta davvero") if e.template == "nurture_3" else e for e in WANTED]

    monkeypatch.setattr(provisioning, "hubspot_emails", changed)
    writes = email_writes(server)
    report = provision_emails(server)

    assert [f.subject for f in report.with_status(Status.UPDATED)] == ["marketing email 'flywheel: nurture_3'"]
    assert "subject changed" in report.with_status(Status.UPDATED)[0].detail
    assert email_writes(server) == writes + 1
    after = {e["name"]: e for e in server.store.marketing_emails.all()}
    assert after["flywheel: nurture_3"]["subject"] == "La tua opinione conta davvero"
    assert after["flywheel: nurture_3"]["id"] == before["flywheel: nurture_3"]["id"]
    assert {n: e for n, e in after.items() if n != "flywheel: nurture_3"} == {
        n: e for n, e in before.items() if n != "flywheel: nurture_3"
    }


def test_an_email_edited_in_hubspot_is_put_back_to_the_repo_text(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(provisioned=False)
    provision_emails(server)
    edited = by_name(server)["flywheel: nurture_1"][0]
    server.store.marketing_emails.update(edited["id"], {"content": {"plainTextVersion": "testo cambiato a mano"}})

    report = provision_emails(server)

    assert [f.subject for f in report.with_status(Status.UPDATED)] == ["marketing email 'flywheel: nurture_1'"]
    nurture_1 = next(w for w in WANTED if w.template == "nurture_1")
    assert server.store.marketing_emails.get(edited["id"])["content"]["plainTextVersion"] == nurture_1.plain_text


def test_a_dry_run_reports_the_emails_it_would_create_and_creates_none(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(provisioned=False)

    report = provision_emails(server, dry_run=True)

    assert set(statuses(report).values()) == {Status.WOULD_CREATE} and len(report.findings) == len(WANTED)
    assert server.store.marketing_emails.all() == []


def test_the_whole_provisioning_includes_the_emails(sandbox_factory: Callable[..., Any]) -> None:
    from flywheel.config import ColdRules, PortalContract

    server = sandbox_factory(provisioned=False)
    api = PortalApi(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)

    report = provisioning.provision(api, PortalContract(), cold=ColdRules())

    created = {f.subject for f in report.with_status(Status.CREATED)}
    assert {f"marketing email {w.name!r}" for w in WANTED} <= created


# --- the mailer finds the emails by name -----------------------------------------------------------------------


def message(template: str, context: dict[str, str], key: str) -> EmailMessage:
    subject, body = render(template, context)
    return EmailMessage(
        key=key,
        template=template,
        company_id="1001",
        contact_id="2001",
        to_email=ADDRESS,
        subject=subject,
        body_text=body,
        context=context,
    )


REACTIVATION = {
    "company_name": "Rossi Informatica S.r.l.",
    "contact_name": "",
    "owner_name": "Marco Bianchi",
    "ecommerce_url": "https://shop.sicomputer.it",
    "unsubscribe_url": "https://flywheel.example.it/unsubscribe?c=2001&e=2027-03-31&s=SIG",
}


def mailer_for(server: Any, email_ids: dict[str, int] | None = None) -> HubSpotSingleSendMailer:
    return HubSpotSingleSendMailer(
        api_base=server.url,
        access_token=server.token,
        email_ids=email_ids or {},
        policy=RetryPolicy(max_retries=1),
        sleep=lambda _: None,
    )


def test_the_mailer_sends_the_provisioned_email_found_by_name_once_per_mailer(
    sandbox_factory: Callable[..., Any],
) -> None:
    server = sandbox_factory(provisioned=False)
    provision_emails(server)
    ids = {name: int(same[0]["id"]) for name, same in by_name(server).items()}
    lists_before = server.store.stats()["calls"]["total"]
    mailer = mailer_for(server)

    mailer.send(message("riattivazione", REACTIVATION, "cold_segment:1001:reactivation:2026-03-01:2001"))
    mailer.send(message("riattivazione", REACTIVATION, "cold_segment:1002:reactivation:2026-03-01:2002"))

    first, second = server.store.outbox()
    assert first["emailId"] == second["emailId"] == ids["flywheel: riattivazione"]
    # one page of emails read, then two sends: the ids are looked up once per mailer
    assert server.store.stats()["calls"]["total"] - lists_before == 3
    properties = first["customProperties"]
    assert properties["contact_name"] == "Cliente"  # filled as the outbox fills a blank name
    assert "rispondere a questa email" in properties["invitation"]
    assert properties["unsubscribe_url"] == REACTIVATION["unsubscribe_url"]


def test_a_configured_email_id_wins_over_the_name(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(provisioned=False)
    provision_emails(server)

    mailer_for(server, {"riattivazione": 777}).send(message("riattivazione", REACTIVATION, "k:1"))

    assert [m["emailId"] for m in server.store.outbox()] == [777]


def test_without_a_provisioned_email_the_mailer_refuses_and_sends_nothing(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(provisioned=False)

    with pytest.raises(MailerError, match=r"infra\.portal") as refused:
        mailer_for(server).send(message("riattivazione", REACTIVATION, "k:1"))

    assert refused.value.nothing_sent and not refused.value.transient
    assert server.store.outbox() == []


def test_a_token_without_the_marketing_email_scope_is_reported_not_a_crash(sandbox_factory: Callable[..., Any]) -> None:
    server = sandbox_factory(provisioned=False)
    api = PortalApi(api_base=server.url, access_token="not-the-token", rate_limit_per_10s=0)
    report = Report(dry_run=False)

    provision_marketing_emails(MarketingEmailsApi(api), report)

    assert [(f.status, f.subject) for f in report.findings] == [(Status.MISSING, "marketing emails")]
    assert "content scope" in report.findings[0].detail and not report.ready
    assert server.store.marketing_emails.all() == []
