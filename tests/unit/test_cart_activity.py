"""The demo's e-commerce carts: customers leave carts over the days, some large, some bought before or after the
reminder, each change stamped at its own moment on the portal's clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.activity import carts_for_day
from sandbox.clock import PortalClock
from sandbox.store import PortalStore

ROME = ZoneInfo("Europe/Rome")
START = date(2026, 9, 14)  # a Monday
SEED = 4


def play(days: int) -> tuple[PortalStore, dict[str, date], list[tuple[int, int]]]:
    now = datetime.combine(START, time(0, 5), ROME)
    store = PortalStore(clock=PortalClock(now), companies=600, seed=SEED, today=START, rate_limit=0)
    assert store.generated is not None
    open_carts: dict[str, date] = {}
    counts = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        store.clock.pin(datetime.combine(day, time(0, 5), ROME))
        result = carts_for_day(store, store.generated, day, SEED, open_carts)
        assert store.clock.now() == datetime.combine(day, time(0, 5), ROME)  # the clock is left where it was
        counts.append((result.created, result.checked_out))
    return store, open_carts, counts


def test_customers_leave_carts_some_large_and_buy_some_of_them_later() -> None:
    store, _, counts = play(20)
    generated = {
        r.id for r in store.all_records("carts") if r.properties.get("hs_external_cart_id", "").startswith("C")
    }
    simulated = [r for r in store.all_records("carts") if r.id not in generated]

    assert sum(created for created, _ in counts) == len(simulated) > 10
    paid = [r for r in simulated if r.properties["hs_external_status"] == "paid"]
    assert 0 < len(paid) == sum(checked_out for _, checked_out in counts)
    assert any(float(r.properties["hs_total_price"]) > 2000 for r in simulated)
    assert any(float(r.properties["hs_total_price"]) <= 2000 for r in simulated)
    for cart in simulated:
        assert store.associated_ids("carts", cart.id, "companies")
        assert store.associated_ids("carts", cart.id, "contacts")
        assert store.associated_ids("carts", cart.id, "line_items")
        left = datetime.fromisoformat(cart.properties["createdate"].replace("Z", "+00:00")).astimezone(ROME)
        assert left.weekday() < 5 and 7 <= left.hour < 21  # left during a working day


def test_the_same_seed_plays_the_same_carts() -> None:
    first, _, first_counts = play(8)
    again, _, again_counts = play(8)
    assert first_counts == again_counts
    assert [r.properties for r in first.all_records("carts")] == [r.properties for r in again.all_records("carts")]
