"""The repo's email templates as HubSpot marketing emails, for `FLYWHEEL_MAILER=hubspot`.

The repo is the master: `python -m infra.portal` creates one HubSpot marketing email per template, named
`flywheel: <template>`, and updates it when the text here changes. The hubspot mailer finds the emails again by
that name, so no email id is copied anywhere by hand.

Our placeholders `${name}` become HubSpot personalization tokens `{{ custom.name }}`: single-send v4 fills them
from the request's `customProperties`, which the mailer builds with `templates.personalisation` (the very values
`render` substitutes, so the outbox and HubSpot say the same words). The owner's alert has no template of its own
(its subject and text are made per cart): its HubSpot email is `{{ custom.subject }}` / `{{ custom.body }}`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from flywheel.mail.templates import TEMPLATES, personalisation, source

NAME_PREFIX: Final = "flywheel: "
# the rich-text module holding the HTML body, as HubSpot's drag-and-drop editor stores a module
BODY_WIDGET: Final = "flywheel_body"
# created as automated emails (single-send sends automated emails), left as drafts: publishing needs the
# portal's sender and subscription type, which are the marketing team's choice
CREATE_STATE: Final = "AUTOMATED_DRAFT"
# the owner's alert (flywheel.services.effects.OWNER_ALERT_TEMPLATE): text made per message
PASSTHROUGH_TEMPLATES: Final = frozenset({"avviso_proprietario"})

# string.Template's placeholders: `$$` (a dollar sign), `${name}` and `$name`
_PLACEHOLDER = re.compile(r"\$(?:(\$)|\{([_a-z][_a-z0-9]*)\}|([_a-z][_a-z0-9]*))", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HubSpotEmail:
    """One marketing email as HubSpot should hold it."""

    template: str
    name: str
    subject: str
    plain_text: str
    html: str

    def content(self) -> dict[str, Any]:
        """The email's `content` in the Marketing Emails API v3."""
        widget = {"type": "module", "name": BODY_WIDGET, "body": {"html": self.html}}
        return {"plainTextVersion": self.plain_text, "widgets": {BODY_WIDGET: widget}}

    def create_body(self) -> dict[str, Any]:
        """The body of `POST /marketing/v3/emails` that creates it."""
        return {"name": self.name, "subject": self.subject, "state": CREATE_STATE, "content": self.content()}

    def difference(self, subject: str | None, content: Mapping[str, Any] | None) -> str | None:
        """What of an existing email (its subject and content, as the API answers them) differs from this one,
        None when nothing does."""
        content = content or {}
        widget = (content.get("widgets") or {}).get(BODY_WIDGET) or {}
        html = (widget.get("body") or {}).get("html") if isinstance(widget, Mapping) else None
        changed = [
            what
            for what, theirs, ours in (
                ("subject", subject, self.subject),
                ("plain text", content.get("plainTextVersion"), self.plain_text),
                ("html", html, self.html),
            )
            if (theirs or "") != ours
        ]
        return ", ".join(changed) + " changed in the repo" if changed else None


def email_name(template: str) -> str:
    return f"{NAME_PREFIX}{template}"


def template_of(name: str) -> str | None:
    """The template a HubSpot email of ours stands for, None for anyone else's email."""
    return name.removeprefix(NAME_PREFIX) if name.startswith(NAME_PREFIX) else None


def hubspot_tokens(text: str) -> str:
    """`${name}` -> `{{ custom.name }}`, `$$` -> `$`."""

    def token(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        return "{{ custom.%s }}" % (match.group(2) or match.group(3))

    return _PLACEHOLDER.sub(token, text)


def _html(text: str) -> str:
    """Paragraphs and line breaks of the plain text, escaped; the tokens pass through untouched."""
    paragraphs = [part for part in text.strip("\n").split("\n\n") if part.strip()]
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in part.split("\n")) + "</p>" for part in paragraphs
    )


def hubspot_email(template: str) -> HubSpotEmail:
    if template in PASSTHROUGH_TEMPLATES:
        subject, body = "${subject}", "${body}"
    else:
        subject, body = source(template)
    text = hubspot_tokens(body)
    return HubSpotEmail(template, email_name(template), hubspot_tokens(subject), text, _html(text))


def hubspot_emails() -> list[HubSpotEmail]:
    """Every email the hubspot mailer may send, in a stable order."""
    return [hubspot_email(template) for template in sorted({*TEMPLATES, *PASSTHROUGH_TEMPLATES})]


def custom_properties(
    template: str, context: Mapping[str, str], *, subject: str = "", body: str = ""
) -> dict[str, str]:
    """The single-send `customProperties` that fill the template's tokens: the context as given, then the
    values `render` would substitute (trimmed, `contact_name` defaulted, derived texts added); for the owner's
    alert, its subject and text."""
    if template in PASSTHROUGH_TEMPLATES:
        return {**context, "subject": subject, "body": body}
    return {**context, **personalisation(template, context)}
