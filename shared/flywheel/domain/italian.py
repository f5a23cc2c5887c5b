"""How Flywheel writes dates, numbers and money for Italian readers (emails, HubSpot tasks and deals)."""

from __future__ import annotations

from datetime import date


def italian_date(day: date) -> str:
    """2026-03-01 -> "01/03/2026"."""
    return day.strftime("%d/%m/%Y")


def italian_number(value: float, decimals: int = 0) -> str:
    """1234567.5 -> "1.234.567,50" with two decimals: dots group thousands, a comma marks decimals."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def euro(amount: float) -> str:
    """1234.5 -> "1.234,50 €"."""
    return f"{italian_number(amount, 2)} €"
