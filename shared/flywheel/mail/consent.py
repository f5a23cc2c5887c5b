"""The one consent gate every email passes: a valid address, not opted out, and an allowed legal basis.

`hs_legal_basis` is a multiple-checkbox property: HubSpot returns its values joined by `;`, and a contact passes when
any one of them is on the allow-list (`FLYWHEEL_CONSENT__ALLOWED_LEGAL_BASES`). Values are compared without regard
to case, spacing or the kind of dash, since HubSpot's own labels mix en dashes and hyphens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from flywheel.config import ConsentRules, Settings
from flywheel.domain.models import Contact

_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]")
_SPACES = re.compile(r"\s+")


def legal_basis_key(value: str) -> str:
    """What two spellings of one legal basis share: `Legitimate interest – other`, `legitimate interest - other`."""
    return _SPACES.sub(" ", _DASHES.sub("-", value)).strip().casefold()


def legal_bases(value: str | None) -> list[str]:
    """The values of a multiple-checkbox `hs_legal_basis`, blanks dropped."""
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def is_valid_address(address: str) -> bool:
    """Syntax only: no DNS lookup, so the gate neither waits on nor leaks to a resolver."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@dataclass(frozen=True)
class ConsentPolicy:
    """The legal bases that allow Flywheel to email a contact, as keys (see `legal_basis_key`)."""

    allowed_legal_bases: frozenset[str]

    @classmethod
    def of(cls, allowed: Iterable[str]) -> ConsentPolicy:
        return cls(frozenset(legal_basis_key(value) for value in allowed if value.strip()))

    @classmethod
    def from_rules(cls, rules: ConsentRules) -> ConsentPolicy:
        return cls.of(rules.allowed_legal_bases)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsentPolicy:
        return cls.from_rules(settings.consent)

    def allows(self, legal_basis: str) -> bool:
        return legal_basis_key(legal_basis) in self.allowed_legal_bases


def consent_refusal(contact: Contact, policy: ConsentPolicy) -> str | None:
    """Why this contact may not be emailed (a short code), or None when they may."""
    if not contact.email or not contact.email.strip():
        return "no_email"
    if not is_valid_address(contact.email):
        return "invalid_email"
    if contact.opted_out:
        return "opted_out"
    bases = legal_bases(contact.legal_basis)
    if not bases:
        return "no_legal_basis"
    if not any(policy.allows(basis) for basis in bases):
        return "legal_basis_not_allowed"
    return None


def may_email(contact: Contact, policy: ConsentPolicy) -> bool:
    return consent_refusal(contact, policy) is None
