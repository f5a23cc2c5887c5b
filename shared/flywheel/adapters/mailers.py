"""Mailers: where a rendered, consent-checked email goes.

- `OutboxMailer` writes each message to a folder (the local default: the demo and tests read it back).
- `HubSpotSingleSendMailer` sends through HubSpot's marketing single-send API (production).
- `SesMailer` sends through Amazon SES (an option for portals without marketing emails).

Outbox and SES mail carry `Reply-To` (a person: the company's owner) and the RFC 8058 one-click unsubscribe
headers, `List-Unsubscribe` and `List-Unsubscribe-Post`, pointing at the signed link the footer shows; HubSpot
marketing emails get their reply-to in the request and the link as the `unsubscribe_url` custom property.

None of them logs an email address: logs carry a short one-way digest of it instead.
"""

from __future__ import annotations

import email.policy
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from flywheel.adapters.hubspot import classify_failure
from flywheel.adapters.ratelimit import RequestFailed, RetryPolicy, RollingWindowLimiter, call_with_retries
from flywheel.clock import RunBudget
from flywheel.errors import ConfigurationError
from flywheel.mail.hubspot_emails import PASSTHROUGH_TEMPLATES, custom_properties, template_of
from flywheel.mail.templates import TEMPLATES
from flywheel.ports import EmailMessage, MailerError, SendReceipt

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient

log = logging.getLogger(__name__)

SENDER: Final = "SiComputer <noreply@sicomputer.it>"
SINGLE_SEND_PATH: Final = "/marketing/v4/email/single-send"


def address_digest(address: str) -> str:
    """A short stable stand-in for an email address in logs: equal addresses match, none can be read back."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:12]


def message_id_for(key: str) -> str:
    """The outbox message id of an effect key: deterministic, so a resend lands on the same files."""
    return "msg-" + hashlib.sha256(key.encode()).hexdigest()[:24]


# --- outbox ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentEmail:
    """One message as the outbox holds it."""

    message_id: str
    key: str
    template: str
    company_id: str
    contact_id: str
    to_email: str
    subject: str
    body_text: str
    context: Mapping[str, str]
    written_at: str
    reply_to: str | None = None
    unsubscribe_url: str | None = None


class OutboxMailer:
    """One `.eml` file (readable with any mail client) and one `.json` sidecar per message, named by a digest
    of the effect key: no personal data in file names, and a resend of a key overwrites instead of adding."""

    def __init__(
        self, directory: str | Path, *, now: Callable[[], datetime] | None = None, sender: str = SENDER
    ) -> None:
        self.directory = Path(directory)
        self.sender = sender
        self._now = now or (lambda: datetime.now(UTC))

    def send(self, message: EmailMessage) -> SendReceipt:
        message_id = message_id_for(message.key)
        written_at = self._now()
        mime = mime_message(message, self.sender)
        mime["Date"] = format_datetime(written_at)
        mime["Message-ID"] = f"<{message_id}@flywheel.sicomputer.it>"
        mime["X-Flywheel-Key"] = message.key
        mime["X-Flywheel-Template"] = message.template
        mime["X-Flywheel-Company"] = message.company_id
        mime["X-Flywheel-Contact"] = message.contact_id
        sidecar = {
            "message_id": message_id,
            "key": message.key,
            "template": message.template,
            "company_id": message.company_id,
            "contact_id": message.contact_id,
            "to_email": message.to_email,
            "subject": message.subject,
            "body_text": message.body_text,
            "context": dict(message.context),
            "written_at": written_at.isoformat(),
            "reply_to": message.reply_to,
            "unsubscribe_url": message.unsubscribe_url,
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # the sidecar is written last: `sent()` lists a message only once both files are complete
            _write_atomically(self.directory / f"{message_id}.eml", mime.as_bytes(policy=_READABLE))
            _write_atomically(
                self.directory / f"{message_id}.json",
                json.dumps(sidecar, ensure_ascii=False, indent=2).encode("utf-8"),
            )
            _append_line(self.directory / DELIVERY_LOG, {"key": message.key, "message_id": message_id})
        except OSError as error:
            # the sidecar makes a message sent: without it nothing counts as sent and a resend overwrites
            raise MailerError(
                f"outbox write failed: {type(error).__name__}", transient=True, nothing_sent=True
            ) from error
        log.info("outbox: %s (%s) to %s", message_id, message.template, address_digest(message.to_email))
        return SendReceipt(message_id=message_id, channel="outbox")

    def recover(self, message: EmailMessage) -> SendReceipt | None:
        """The outbox can tell: the message is there (both files written) or it is written now."""
        message_id = message_id_for(message.key)
        if (self.directory / f"{message_id}.json").is_file():
            return SendReceipt(message_id=message_id, channel="outbox")
        return self.send(message)

    def sent(self) -> list[SentEmail]:
        """Every message in the outbox, oldest first."""
        if not self.directory.is_dir():
            return []
        messages = []
        for path in self.directory.glob("msg-*.json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            messages.append(SentEmail(**data))
        return sorted(messages, key=lambda m: (m.written_at, m.message_id))


def mime_message(message: EmailMessage, sender: str) -> MimeMessage:
    """The message as MIME, with the headers that let a person answer and leave: Reply-To, and RFC 8058's
    one-click unsubscribe (a mail client POSTs `List-Unsubscribe=One-Click` to the signed link)."""
    mime = MimeMessage(policy=email.policy.default)
    mime["From"] = sender
    mime["To"] = message.to_email
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    if message.unsubscribe_url:
        mime["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # 8bit keeps accented Italian readable in the file instead of quoted-printable escapes
    mime.set_content(message.body_text, charset="utf-8", cte="8bit")
    return mime


DELIVERY_LOG: Final = "deliveries.log"

# the file is for people to read: UTF-8 headers rather than RFC 2047 encoded words, and plain newlines
_READABLE: Final = email.policy.default.clone(utf8=True)


def _append_line(path: Path, record: Mapping[str, str]) -> None:
    """One line per delivery, appended with O_APPEND (one write() each, so lines of concurrent processes never
    interleave): the files show what is in the outbox, the log how many times it was put there."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, line)
    finally:
        os.close(handle)


def deliveries(directory: str | Path) -> list[dict[str, str]]:
    """Every delivery the outbox logged, in order (a key twice means an email went out twice)."""
    path = Path(directory) / DELIVERY_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_atomically(path: Path, data: bytes) -> None:
    """Write then rename, so a reader or a crash never sees half a file, and concurrent resends of one key
    leave one whole copy."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- HubSpot single-send ---------------------------------------------------------------------------------------


class HubSpotSingleSendMailer:
    """HubSpot marketing single-send v4: the email's content is a HubSpot marketing email (by template key),
    personalised with `customProperties`.

    The effect key is the `sendId`: HubSpot sends at most one email per sendId, so repeating the request after
    a 429, a 5xx or a lost answer cannot send twice, and an email whose outcome was unknown is recovered by
    sending it again. Calls share the CRM adapter's rate limiter and retry policy (one app, one limit) and never
    wait past the run's time budget. hubspot-api-client has no typed API for this endpoint; the request goes
    through the client's generic `call_api` (of the transactional email package) rather than
    `Client.api_request`, because only the former takes a timeout and raises `ApiException` with the status
    and headers.
    """

    def __init__(
        self,
        *,
        api_base: str,
        access_token: str,
        email_ids: Mapping[str, int],
        timeout_seconds: float = 30.0,
        limiter: RollingWindowLimiter | None = None,
        policy: RetryPolicy | None = None,
        budget: RunBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._access_token = access_token
        self._email_ids = dict(email_ids)
        self._timeout = timeout_seconds
        self._limiter = limiter or RollingWindowLimiter(0)
        self._policy = policy or RetryPolicy()
        self._budget = budget
        self._sleep = sleep
        self._api_client: Any = None
        self._hubspot_client: Any = None
        # template -> email id, found by name on first need (None: not looked up yet)
        self._found_ids: dict[str, int] | None = None
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> SendReceipt:
        email_id = self._email_id(message.template)
        body = {
            "emailId": email_id,
            "message": {
                "to": message.to_email,
                "sendId": message.key,
                **({"replyTo": [message.reply_to]} if message.reply_to else {}),
            },
            # HubSpot writes contactProperties onto the contact record: personalisation goes in
            # customProperties ({{ custom.NAME }} in the email) so that sending never edits CRM data
            "contactProperties": {},
            "customProperties": self._custom_properties(message),
        }
        try:
            answer = call_with_retries(
                lambda: self._post(body),
                classify=classify_failure,
                policy=self._policy,
                limiter=self._limiter,
                sleep=self._sleep,
                repeat_safe=True,  # the sendId makes a repeat harmless
                budget=self._budget,
            )
        except RequestFailed as failed:
            failure = failed.failure
            refused = failure.status is not None and 400 <= failure.status < 500 and failure.status != 429
            raise MailerError(
                f"HubSpot single-send of {message.template} for company {message.company_id} failed "
                f"(status {failure.status}, {failed.attempts} attempts)",
                transient=failure.transient,
                # HubSpot did not act on a 4xx (429 included), and nothing left on a connection never made
                nothing_sent=refused or failure.status == 429 or not failure.sent,
            ) from failed
        status_id = answer.get("statusId") or answer.get("id") or message.key
        log.info(
            "hubspot single-send: %s (%s) to %s: %s",
            status_id,
            message.template,
            address_digest(message.to_email),
            answer.get("sendResult") or answer.get("status") or "accepted",
        )
        return SendReceipt(message_id=str(status_id), channel="hubspot")

    def recover(self, message: EmailMessage) -> SendReceipt | None:
        """The same sendId again: HubSpot answers for the one email it sent, or sends it now if it never did."""
        return self.send(message)

    def _email_id(self, template: str) -> int:
        """`FLYWHEEL_HUBSPOT_EMAIL_IDS` first; else the email `python -m infra.portal` made, found by its name
        ("flywheel: <template>") in one paged read of the portal's marketing emails per mailer. Found at run time,
        not copied into configuration: an id never goes stale or needs pasting, and a re-provisioned email is
        seen by the next instance."""
        configured = self._email_ids.get(template)
        if configured is not None:
            return configured
        with self._lock:
            if self._found_ids is None:
                self._found_ids = self._find_email_ids(template)
            found = self._found_ids.get(template)
        if found is None:
            raise MailerError(
                f"no HubSpot email for template {template!r}: run `python -m infra.portal` (it creates "
                f'"flywheel: {template}") or map it in FLYWHEEL_HUBSPOT_EMAIL_IDS',
                nothing_sent=True,
            )
        return found

    def _find_email_ids(self, needed_for: str) -> dict[str, int]:
        emails_api = self._hubspot().marketing.emails.marketing_emails_api
        ids: dict[str, int] = {}
        after: str | None = None
        while True:
            options = {"after": after} if after else {}
            try:
                page = call_with_retries(
                    partial(emails_api.get_page, limit=100, archived=False, _request_timeout=self._timeout, **options),
                    classify=classify_failure,
                    policy=self._policy,
                    limiter=self._limiter,
                    sleep=self._sleep,
                    repeat_safe=True,  # a read
                    budget=self._budget,
                )
            except RequestFailed as failed:
                raise MailerError(
                    f"no HubSpot email id for template {needed_for!r}: the portal's marketing emails could not be "
                    f"listed (status {failed.failure.status})",
                    transient=failed.failure.transient,
                    nothing_sent=True,
                ) from failed
            for found in page.results:
                template = template_of(found.name or "")
                # the first created wins when a name repeats, as provisioning keeps that one in sync
                if template is not None and str(found.id).isdigit():
                    ids.setdefault(template, int(found.id))
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return ids

    @staticmethod
    def _custom_properties(message: EmailMessage) -> dict[str, str]:
        """What fills the HubSpot email's `{{ custom.NAME }}` tokens: the values the repo's template would
        substitute (flywheel.mail.hubspot_emails), or the context as given for a template the repo does not know."""
        if message.template in TEMPLATES or message.template in PASSTHROUGH_TEMPLATES:
            return custom_properties(message.template, message.context, subject=message.subject, body=message.body_text)
        return dict(message.context)

    def _post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        api_client = self._client()
        response = api_client.call_api(
            SINGLE_SEND_PATH,
            "POST",
            {},
            [],
            {"Accept": "application/json", "Content-Type": "application/json"},
            body=dict(body),
            post_params=[],
            files={},
            response_types_map={},
            auth_settings=["oauth2"],
            _return_http_data_only=True,
            _preload_content=False,
            _request_timeout=self._timeout,
        )
        raw = response.data if hasattr(response, "data") else response
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        return parsed if isinstance(parsed, dict) else {}

    def _client(self) -> Any:
        with self._lock:
            if self._api_client is None:
                self._api_client = self._hubspot().marketing.transactional.single_send_api.api_client
            return self._api_client

    def _hubspot(self) -> Any:
        if self._hubspot_client is None:
            from hubspot import Client  # imported here: cold starts that send nothing do not pay for it

            # retry=False: no hidden urllib3 retries; this class decides what is repeated
            self._hubspot_client = Client.create(access_token=self._access_token, host=self._api_base, retry=False)
        return self._hubspot_client


# --- Amazon SES ------------------------------------------------------------------------------------------------

# SES error codes that mean "try again later"; any other client error is a refusal of this message
_SES_TRANSIENT_CODES: Final = frozenset(
    {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure", "RequestTimeout"}
)


class SesMailer:
    """Amazon SES `SendRawEmail`. SES has no idempotency key: exactly-once rests on the effect executor."""

    def __init__(self, *, region: str, sender: str = SENDER, client: SESClient | None = None) -> None:
        if client is None and importlib.util.find_spec("boto3") is None:
            # boto3 is the optional `ses` extra, left out of the function bundle unless it is built --with ses:
            # refused when the mailer is set up, not at the first send halfway through a run
            raise ConfigurationError(
                "FLYWHEEL_MAILER=ses needs boto3 (the `ses` extra): pip install 'flywheel[ses]', or deploy the "
                "bundle built with `python -m infra.bundle --with ses`"
            )
        self.region = region
        self.sender = sender
        self._ses = client
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> SendReceipt:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

        try:
            # raw, because SendEmail cannot carry the List-Unsubscribe headers; the recipient is the To header
            answer = self._client().send_raw_email(
                Source=self.sender,
                RawMessage={"Data": mime_message(message, self.sender).as_bytes()},
                Tags=[
                    {"Name": "template", "Value": _ses_tag(message.template)},
                    {"Name": "company", "Value": _ses_tag(message.company_id)},
                ],
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            transient = code in _SES_TRANSIENT_CODES or status == 429 or status >= 500
            # an error answer means SES did not accept the message: nothing went out
            raise MailerError(
                f"SES refused {message.template}: {code}", transient=transient, nothing_sent=True
            ) from error
        except BotoCoreError as error:
            # no connection made: nothing sent; a read timeout after the request: unknown
            never_connected = isinstance(error, EndpointConnectionError | ConnectTimeoutError)
            raise MailerError(
                f"SES unreachable: {type(error).__name__}", transient=True, nothing_sent=never_connected
            ) from error
        message_id = answer["MessageId"]
        log.info("ses: %s (%s) to %s", message_id, message.template, address_digest(message.to_email))
        return SendReceipt(message_id=message_id, channel="ses")

    def recover(self, message: EmailMessage) -> SendReceipt | None:
        """SES has neither an idempotency key nor a lookup by ours: an unknown outcome stays unknown."""
        return None

    def _client(self) -> SESClient:
        with self._lock:
            if self._ses is None:
                import boto3  # imported here: cold starts that send nothing do not pay for it

                self._ses = boto3.client("ses", region_name=self.region)
            return self._ses


def _ses_tag(value: str) -> str:
    """SES tag values allow only ASCII letters, digits, `_` and `-`."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in value)
    return cleaned[:256] or "_"
