"""The demo's account changes (the ERP's side): cashback credited and expiring, D&P levels moving over the days."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from sandbox.activity import DP_LEVELS, account_changes_for_day, initial_accounts
from sandbox.generator import GeneratedPortal, generate_portal

START = date(2026, 9, 15)
SEED = 3


@pytest.fixture(scope="module")
def portal() -> GeneratedPortal:
    return generate_portal(400, seed=SEED, today=START)


def play(portal: GeneratedPortal, days: int) -> list[tuple[date, str, dict[str, str], dict[str, str]]]:
    """(day, company, before, change) of every change over `days` days, applied as the demo applies them."""
    accounts = initial_accounts(portal)
    played = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        for change in account_changes_for_day(portal, day, SEED, accounts):
            before = dict(accounts[change.company_id])
            accounts[change.company_id].update(change.properties)
            played.append((day, change.company_id, before, change.properties))
    return played


def test_the_same_day_and_accounts_give_the_same_changes(portal: GeneratedPortal) -> None:
    accounts = initial_accounts(portal)
    assert account_changes_for_day(portal, START, SEED, accounts) == account_changes_for_day(
        portal, START, SEED, accounts
    )


def test_over_90_days_levels_rise_one_and_two_steps_and_fall(portal: GeneratedPortal) -> None:
    moves = Counter(
        DP_LEVELS.index(change["dp_level"]) - DP_LEVELS.index(before["dp_level"])
        for _, _, before, change in play(portal, 90)
        if "dp_level" in change
    )
    assert moves[1] > 0 and moves[2] > 0 and moves[-1] > 0
    assert set(moves) <= {-1, 1, 2}


def test_cashback_is_credited_and_expires_on_the_1st_and_is_spent_on_other_days(portal: GeneratedPortal) -> None:
    cashback = [(day, before, change) for day, _, before, change in play(portal, 60) if "cashback_available" in change]
    credited = [c for day, _, c in cashback if day.day == 1 and c["cashback_available"] != "0"]
    spent = [day for day, _, c in cashback if day.day != 1]
    assert len(credited) > 20 and spent
    assert all(float(b.get("cashback_available") or 0) > 0 for day, b, _ in cashback if day.day != 1)
