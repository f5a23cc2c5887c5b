"""Mailers deliver a rendered email once per key, keep addresses out of file names and logs, and tell
a transient failure from a refusal."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import HubSpotSingleSendMailer, OutboxMailer, SesMailer, address_digest, deliveries
from flywheel.adapters.ratelimit import RetryPolicy
from flywheel.bootstrap import build_mailer
from flywheel.clock import RunBudget
from flywheel.config import MailRules, Settings
from flywheel.mail.templates import render
from flywheel.ports import EmailMessage, MailerError

ADDRESS = "giulia.rossi@rossi-informatica.it"
OWNER = "marco.bianchi@sicomputer.it"
UNSUBSCRIBE = "https://europe-west1-flywheel.cloudfunctions.net/unsubscribe?c=2001&e=2027-03-01&s=c2lnbmF0dXJl"


def email_for(key: str = "nurture_step:1001:2026-01-15:1", to: str = ADDRESS, **changes: Any) -> EmailMessage:
    context = {
        "company_name": "Rossi Informatica S.r.l.",
        "contact_name": "Giulia",
        "ecommerce_url": "https://shop.sicomputer.it",
        "unsubscribe_url": UNSUBSCRIBE,
    }
    subject, body = render("nurture_1", context)
    fields: dict[str, Any] = {
        "key": key,
        "template": "nurture_1",
        "company_id": "1001",
        "contact_id": "2001",
        "to_email": to,
        "subject": subject,
        "body_text": body,
        "context": context,
        "reply_to": OWNER,
        "unsubscribe_url": UNSUBSCRIBE,
        **changes,
    }
    return EmailMessage(**fields)


# --- outbox ----------------------------------------------------------------------------------------------------


def test_the_outbox_holds_a_readable_eml_and_a_json_sidecar(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, now=lambda: datetime(2026, 3, 1, 6, tzinfo=UTC))

    receipt = mailer.send(email_for())

    assert receipt.channel == "outbox"
    eml = (tmp_path / f"{receipt.message_id}.eml").read_bytes()
    parsed = message_from_bytes(eml, policy=policy.default)
    assert parsed["From"] == "SiComputer <noreply@sicomputer.it>"
    assert parsed["To"] == ADDRESS
    assert parsed["Subject"] == "Ci manchi, Rossi Informatica S.r.l.!"
    assert parsed["X-Flywheel-Key"] == "nurture_step:1001:2026-01-15:1"
    assert parsed["X-Flywheel-Template"] == "nurture_1"
    assert "è passato un po' di tempo" in parsed.get_content()
    assert "è passato un po' di tempo".encode() in eml  # readable as is, not quoted-printable
    sidecar = json.loads((tmp_path / f"{receipt.message_id}.json").read_text(encoding="utf-8"))
    assert sidecar["to_email"] == ADDRESS
    assert sidecar["context"]["contact_name"] == "Giulia"
    assert sidecar["written_at"] == "2026-03-01T06:00:00+00:00"


def test_outbox_mail_can_be_answered_and_left_in_one_click(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, sender="SiComputer Vendite <vendite@sicomputer.it>")

    receipt = mailer.send(email_for())

    parsed = message_from_bytes((tmp_path / f"{receipt.message_id}.eml").read_bytes(), policy=policy.default)
    assert parsed["From"] == "SiComputer Vendite <vendite@sicomputer.it>"
    assert parsed["Reply-To"] == OWNER
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert UNSUBSCRIBE in parsed.get_content()
    (sent,) = mailer.sent()
    assert (sent.reply_to, sent.unsubscribe_url) == (OWNER, UNSUBSCRIBE)


def test_the_outbox_sender_is_configurable(tmp_path: Path) -> None:
    settings = Settings(mail=MailRules(sender="SiComputer <clienti@sicomputer.it>"))
    mailer = build_mailer(f"outbox://{tmp_path}", settings)

    receipt = mailer.send(email_for())

    parsed = message_from_bytes((tmp_path / f"{receipt.message_id}.eml").read_bytes(), policy=policy.default)
    assert parsed["From"] == "SiComputer <clienti@sicomputer.it>"


def test_a_resend_of_the_same_key_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path)

    first = mailer.send(email_for())
    again = mailer.send(email_for(subject="Ci manchi (bis)"))
    other = mailer.send(email_for(key="nurture_step:1002:2026-01-15:1"))

    assert first == again
    assert other.message_id != first.message_id
    assert sorted(p.suffix for p in tmp_path.glob("msg-*")) == [".eml", ".eml", ".json", ".json"]
    assert {m.subject for m in mailer.sent() if m.message_id == first.message_id} == {"Ci manchi (bis)"}
    # the delivery log still shows that the first key was put in the outbox twice
    assert [d["key"] for d in deliveries(tmp_path)] == [
        "nurture_step:1001:2026-01-15:1",
        "nurture_step:1001:2026-01-15:1",
        "nurture_step:1002:2026-01-15:1",
    ]


def test_file_names_carry_no_personal_data(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path / "outbox")

    mailer.send(email_for())

    names = [p.name for p in (tmp_path / "outbox").iterdir()]
    assert names
    assert not any("giulia" in n.lower() or "rossi" in n.lower() or "@" in n for n in names)


def test_sent_lists_the_outbox_oldest_first(tmp_path: Path) -> None:
    days = iter([datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)])
    mailer = OutboxMailer(tmp_path, now=lambda: next(days))
    mailer.send(email_for(key="k:later"))
    mailer.send(email_for(key="k:earlier"))

    assert [m.key for m in mailer.sent()] == ["k:earlier", "k:later"]
    assert OutboxMailer(tmp_path / "missing").sent() == []


def test_an_unwritable_outbox_is_a_transient_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")

    with pytest.raises(MailerError) as failed:
        OutboxMailer(blocker / "outbox").send(email_for())

    assert failed.value.transient


def test_no_mailer_logs_an_address(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    OutboxMailer(tmp_path).send(email_for())

    assert caplog.records
    assert ADDRESS not in caplog.text
    assert address_digest(ADDRESS) in caplog.text


def test_the_address_digest_ignores_case_and_surrounding_blanks() -> None:
    assert address_digest(" Giulia.Rossi@Rossi-Informatica.it ") == address_digest(ADDRESS)
    assert address_digest("other@example.it") != address_digest(ADDRESS)


# --- SES -------------------------------------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_ses_sends_from_a_verified_sender(aws: None) -> None:
    ses = boto3.client("ses", region_name="eu-west-1")
    ses.verify_email_identity(EmailAddress="noreply@sicomputer.it")
    mailer = SesMailer(region="eu-west-1", sender="SiComputer <noreply@sicomputer.it>")

    receipt = mailer.send(email_for())

    assert receipt.channel == "ses" and receipt.message_id
    assert ses.get_send_quota()["SentLast24Hours"] == 1


def test_ses_mail_carries_reply_to_and_the_one_click_unsubscribe_headers(aws: None) -> None:
    ses = boto3.client("ses", region_name="eu-west-1")
    ses.verify_email_identity(EmailAddress="noreply@sicomputer.it")

    SesMailer(region="eu-west-1", sender="SiComputer <noreply@sicomputer.it>").send(email_for())

    (raw,) = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
    parsed = message_from_bytes(raw.raw_data.encode(), policy=policy.default)
    assert parsed["To"] == ADDRESS
    assert parsed["Reply-To"] == OWNER
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert UNSUBSCRIBE in parsed.get_content()


def test_ses_refusing_an_unverified_sender_is_not_transient(aws: None) -> None:
    ses = boto3.client("ses", region_name="eu-west-1")
    mailer = SesMailer(region="eu-west-1", sender="nobody@unverified.example", client=ses)

    with pytest.raises(MailerError) as refused:
        mailer.send(email_for())

    assert not refused.value.transient
    assert ses.get_send_quota()["SentLast24Hours"] == 0


# --- HubSpot single-send against a stand-in server -------------------------------------------------------------


class StandInServer(ThreadingHTTPServer):
    """Answers the queued (status, headers) in turn, then 200; records every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SingleSendHandler)
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[dict[str, Any]] = []


class _SingleSendHandler(BaseHTTPRequestHandler):
    server: StandInServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
        status, headers = self.server.answers.pop(0) if self.server.answers else (200, {})
        payload = json.dumps({"statusId": "status-1", "sendResult": "SENT"} if status == 200 else {}).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[StandInServer]:
    server = StandInServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def hubspot_mailer(
    server: StandInServer, waits: list[float], *, budget: RunBudget | None = None
) -> HubSpotSingleSendMailer:
    return HubSpotSingleSendMailer(
        api_base=f"http://127.0.0.1:{server.server_address[1]}",
        access_token="test-token",
        email_ids={"nurture_1": 4242},
        policy=RetryPolicy(max_retries=2, base_delay=1.0, random=lambda: 1.0),
        budget=budget,
        sleep=waits.append,
    )


def test_single_send_posts_the_email_id_the_send_id_and_the_personalisation(stand_in: StandInServer) -> None:
    receipt = hubspot_mailer(stand_in, []).send(email_for())

    assert receipt.message_id == "status-1" and receipt.channel == "hubspot"
    (request,) = stand_in.received
    assert request["path"] == "/marketing/v4/email/single-send"
    assert request["auth"] == "Bearer test-token"
    assert request["body"]["emailId"] == 4242
    assert request["body"]["message"] == {
        "to": ADDRESS,
        "sendId": "nurture_step:1001:2026-01-15:1",
        "replyTo": [OWNER],
    }
    assert request["body"]["customProperties"]["company_name"] == "Rossi Informatica S.r.l."
    assert request["body"]["customProperties"]["unsubscribe_url"] == UNSUBSCRIBE


def test_single_send_honours_retry_after_then_succeeds(stand_in: StandInServer) -> None:
    stand_in.answers.extend([(429, {"Retry-After": "3"}), (503, {})])
    waits: list[float] = []

    receipt = hubspot_mailer(stand_in, waits).send(email_for())

    assert receipt.message_id == "status-1"
    assert waits == [3.0, 2.0]
    assert len(stand_in.received) == 3


def test_single_send_still_throttled_after_two_retries_is_transient(stand_in: StandInServer) -> None:
    stand_in.answers.extend([(429, {"Retry-After": "1"})] * 3)

    with pytest.raises(MailerError) as failed:
        hubspot_mailer(stand_in, []).send(email_for())

    assert failed.value.transient and failed.value.nothing_sent  # a 429 is a request HubSpot did not act on
    assert len(stand_in.received) == 3


def test_a_server_error_leaves_the_outcome_unknown(stand_in: StandInServer) -> None:
    stand_in.answers.extend([(503, {})] * 3)

    with pytest.raises(MailerError) as failed:
        hubspot_mailer(stand_in, []).send(email_for())

    assert failed.value.transient and not failed.value.nothing_sent


def test_no_retry_waits_past_the_run_s_time_budget(stand_in: StandInServer) -> None:
    stand_in.answers.append((429, {"Retry-After": "30"}))
    budget = RunBudget(monotonic=lambda: 1000.0)
    budget.start(20)
    waits: list[float] = []

    with pytest.raises(MailerError) as failed:
        hubspot_mailer(stand_in, waits, budget=budget).send(email_for())

    assert failed.value.transient and failed.value.nothing_sent
    assert waits == [] and len(stand_in.received) == 1


def test_the_hubspot_mailer_takes_its_calls_through_the_crm_adapter_s_rate_limiter(
    stand_in: StandInServer,
) -> None:
    waits: list[float] = []
    base = f"http://127.0.0.1:{stand_in.server_address[1]}"
    crm = HubSpotCrm(api_base=base, access_token="t", rate_limit_per_10s=1, sleep=waits.append, monotonic=lambda: 5.0)
    settings = Settings(hubspot_api_base=base, hubspot_email_ids={"nurture_1": 4242})
    mailer = build_mailer("hubspot", settings, crm)

    crm.limiter.acquire()  # a CRM call has just used the one call of this window
    mailer.send(email_for())

    assert waits == [pytest.approx(10.1)]
    assert len(stand_in.received) == 1


def test_single_send_refused_is_not_transient_and_not_repeated(stand_in: StandInServer) -> None:
    stand_in.answers.append((400, {}))

    with pytest.raises(MailerError) as refused:
        hubspot_mailer(stand_in, []).send(email_for())

    assert not refused.value.transient
    assert len(stand_in.received) == 1
    assert ADDRESS not in str(refused.value)


def test_a_template_without_a_hubspot_email_id_is_refused_before_any_send(stand_in: StandInServer) -> None:
    # not configured: the mailer looks for "flywheel: nurture_2" among the marketing emails, which this stand-in
    # cannot list (tests/integration/test_hubspot_emails_sandbox.py finds them on the sandbox portal)
    with pytest.raises(MailerError, match="nurture_2") as refused:
        hubspot_mailer(stand_in, []).send(email_for(template="nurture_2"))

    assert refused.value.nothing_sent
    assert stand_in.received == []


def test_an_unreachable_hubspot_is_transient() -> None:
    mailer = HubSpotSingleSendMailer(
        api_base="http://127.0.0.1:9", access_token="t", email_ids={"nurture_1": 1}, sleep=lambda _: None
    )

    with pytest.raises(MailerError) as failed:
        mailer.send(email_for())

    assert failed.value.transient
