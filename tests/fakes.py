"""In-memory fakes of the ports that several test modules share."""

from __future__ import annotations

from flywheel.ports import EmailMessage, SendReceipt


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
