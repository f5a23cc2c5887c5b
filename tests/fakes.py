"""In-memory fakes of the ports that several test modules share, and the mail settings that let a run send."""

from __future__ import annotations

from typing import Any

from flywheel.config import MailRules, NurtureRules, Settings
from flywheel.ports import EmailMessage, SendReceipt

# long enough (32 characters or more) for the runs that send to accept them
UNSUBSCRIBE_SECRET = "unit-test-unsubscribe-secret-32-characters"
UNSUBSCRIBE_URL = "https://flywheel.example.it/unsubscribe"
COUPON_SECRET = "unit-test-coupon-secret-32-characters-long"


def mail_rules(**overrides: Any) -> MailRules:
    """MailRules every email can go out with: a secret to sign the unsubscribe links and the entry they link to."""
    return MailRules(**{"unsubscribe_secret": UNSUBSCRIBE_SECRET, "unsubscribe_url": UNSUBSCRIBE_URL, **overrides})


def nurture_rules(**overrides: Any) -> NurtureRules:
    """NurtureRules with a coupon secret, so that nurture may send."""
    return NurtureRules(**{"coupon_secret": COUPON_SECRET, **overrides})


def mail_settings(**pieces: Any) -> Settings:
    """Settings whose emails can go out (`mail_rules()`), with the other pieces given (nurture, consent, ...)."""
    return Settings(**{"mail": mail_rules(), **pieces})


class Inbox:
    """A Mailer that keeps every message it is given, in order, and always knows what it sent."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> SendReceipt:
        self.sent.append(message)
        return SendReceipt(message_id=f"msg-{len(self.sent)}", channel="test")

    def recover(self, message: EmailMessage) -> SendReceipt | None:
        for number, earlier in enumerate(self.sent, start=1):
            if earlier.key == message.key:
                return SendReceipt(message_id=f"msg-{number}", channel="test")
        return self.send(message)
