"""The one consent gate every email passes: no address, opted out, or no legal basis means no email."""

from __future__ import annotations

from flywheel.domain.models import Contact


def consent_refusal(contact: Contact) -> str | None:
    """Why this contact may not be emailed, or None when they may."""
    if not contact.email or "@" not in contact.email:
        return "no_email"
    if contact.opted_out:
        return "opted_out"
    if not contact.legal_basis:
        return "no_legal_basis"
    return None


def may_email(contact: Contact) -> bool:
    return consent_refusal(contact) is None
