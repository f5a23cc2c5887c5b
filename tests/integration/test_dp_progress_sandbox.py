"""dp_progress over the sandbox portal (real HTTP through the HubSpot adapter), state in SQLite and in Firestore
(emulator), emails in the outbox: 40 simulated days, sirank_recalc each night (dp_progress reads R12 from its
ledger), then a dry run and two real runs of dp_progress, while the ERP moves levels (two steps up, down, back
up, a new member) and orders bring companies near their next level.

What the rules define is worked out here from full listings of the portal, day by day, independently of the
service's own reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.clock import FixedClock
from flywheel.domain.models import CrmRecord
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.ports import AssociationTarget
from flywheel.services import dp_progress, sirank
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, parse_date, to_contact
from tests.fakes import mail_settings

pytestmark = [pytest.mark.sandbox]

ROME = ZoneInfo("Europe/Rome")
COMPANIES = 150
DAYS = 40
RANK = {"none": 0, "bronze": 1, "silver": 2, "gold": 3}
NEXT = {"none": ("bronze", 5000), "bronze": ("silver", 15000), "silver": ("gold", 40000)}


class Simulation:
    def __init__(self, server: Any, state: Any, work: Path, start: date) -> None:
        self.server = server
        self.settings = mail_settings()
        self.contract = self.settings.portal
        self.crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
        self.clock = FixedClock.on(start, at=time(10, 0))
        self.mailer = OutboxMailer(work / "outbox", now=self.clock.now)
        self.ports = Ports(crm=self.crm, state=state, mailer=self.mailer, clock=self.clock, settings=self.settings)

    @property
    def today(self) -> date:
        return self.clock.today()

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.server.store.clock.pin(moment)

    def listing(self, object_type: str, properties: Sequence[str], associations: Sequence[str] = ()) -> list[CrmRecord]:
        pages = self.crm.list_pages(object_type, properties, associations=associations)
        return [record for page in pages for record in page.records]

    def levels(self) -> dict[str, str]:
        records = self.listing("companies", [self.contract.dp_level])
        return {r.id: level for r in records if (level := (r.prop(self.contract.dp_level) or "")) in RANK}

    def set_level(self, company_id: str, level: str) -> None:
        self.crm.update_batch("companies", [(company_id, {self.contract.dp_level: level})])

    def order(self, company_id: str, amount: float) -> None:
        pipeline = next(p for p in self.crm.pipelines("deals") if p.label == self.contract.order_pipelines[0])
        stage = next(s for s in pipeline.stages if s.is_won)
        properties = {
            "dealname": "Ordine",
            "pipeline": pipeline.id,
            "dealstage": stage.id,
            "amount": f"{amount:.2f}",
            "closedate": self.clock.now().isoformat(),
        }
        self.crm.create("deals", properties, [AssociationTarget("companies", company_id)])

    def revenue_12m(self) -> dict[str, Decimal]:
        """Each company's R12 on today, from every deal in the portal (SiRank's window)."""
        won = {
            (p.id, s.id)
            for p in self.crm.pipelines("deals")
            if p.label in self.contract.order_pipelines
            for s in p.stages
            if s.is_won
        }
        found: dict[str, Decimal] = {}
        for deal in self.listing("deals", ["pipeline", "dealstage", "closedate", "amount"], ["companies"]):
            day = parse_date(deal.prop("closedate"), "Europe/Rome")
            if (deal.prop("pipeline"), deal.prop("dealstage")) not in won or day is None:
                continue
            if 0 <= (self.today - day).days < 365:
                for company_id in deal.associations.get("companies", ())[:1]:
                    found[company_id] = found.get(company_id, Decimal(0)) + Decimal(deal.prop("amount") or "0")
        return found

    def consenting(self) -> set[str]:
        policy = ConsentPolicy.from_settings(self.settings)
        found: set[str] = set()
        for record in self.listing("contacts", contact_properties(self.contract), ["companies"]):
            if may_email(to_contact(record, self.contract), policy):
                found.update(record.associations.get("companies", ()))
        return found

    def run(self, *, dry_run: bool = False) -> Any:
        return dp_progress.run(dp_progress.Request(as_of=self.today, dry_run=dry_run), self.ports)


@pytest.fixture
def simulation(sandbox_factory: Callable[..., Any], durable_state: Any, today: date, tmp_path: Path) -> Simulation:
    start = today - timedelta(days=DAYS)
    server = sandbox_factory(companies=COMPANIES, seed=5, today=start - timedelta(days=1))
    return Simulation(server, durable_state, tmp_path, start)


def test_40_days_congratulate_each_rise_and_nudge_near_thresholds_exactly_as_the_rules_define(
    simulation: Simulation,
) -> None:
    start = simulation.today
    levels, revenue = simulation.levels(), simulation.revenue_12m()
    consenting = simulation.consenting()
    by_level: dict[str, list[str]] = {}
    for company_id, level in sorted(levels.items()):
        if company_id in consenting:
            by_level.setdefault(level, []).append(company_id)
    two_steps, falling = by_level["none"][0], by_level["gold"][0]
    pushed = next(c for c in by_level["bronze"] if revenue.get(c, Decimal(0)) < 10000)
    # orders after a day's run that bring members within 10% of their next level from the next day on
    pushes: dict[int, list[tuple[str, int]]] = {10: [(pushed, 14200)]}
    quiet = {level: [c for c in by_level.get(level, []) if revenue.get(c, Decimal(0)) < 2000] for level in NEXT}
    for index, company_id in enumerate(quiet["none"][1:4]):
        pushes.setdefault(1 + 2 * index, []).append((company_id, 4700))
    for index, company_id in enumerate(quiet["silver"][:2]):
        pushes.setdefault(2 + 3 * index, []).append((company_id, 38000))
    early = quiet["none"][1]  # nudged on day 2, and again on day 32 while still near bronze
    # the ERP's moves: day -> (company, new level)
    moves: dict[int, list[tuple[str, str]]] = {
        5: [(two_steps, "silver")],
        8: [(falling, "silver")],
        12: [(falling, "gold")],
    }

    seen: dict[str, str] = {}
    nudged: dict[tuple[str, str], date] = {}
    expected: set[tuple[str, str, str, date]] = set()
    newcomer = ""
    for number in range(DAYS):
        day = start + timedelta(days=number)
        simulation.at(datetime.combine(day, time(2, 30), ROME))
        sirank.run(sirank.Request(as_of=day, mode="full" if number == 0 else None), simulation.ports)
        for company_id, level in moves.get(number, []):
            simulation.set_level(company_id, level)
        if number == 15:
            newcomer = simulation.crm.create("companies", {"name": "Nuovo Partner S.r.l.", "dp_level": "bronze"}).id
        simulation.at(datetime.combine(day, time(10, 0), ROME))

        # what the rules define for today
        levels, revenue = simulation.levels(), simulation.revenue_12m()
        for company_id, level in levels.items():
            before = seen.get(company_id)
            seen[company_id] = level
            if before is not None and RANK[level] > RANK[before]:
                if company_id in consenting:
                    expected.add((company_id, "congrats", level, day))
                continue
            if level == "gold":
                continue
            target, threshold = NEXT[level]
            if Decimal(threshold) * Decimal("0.9") <= revenue.get(company_id, Decimal(0)) < threshold:
                last = nudged.get((company_id, target))
                if company_id in consenting and (last is None or (day - last).days >= 30):
                    expected.add((company_id, "progress", target, day))
                    nudged[(company_id, target)] = day

        dry = simulation.run(dry_run=True)
        first = simulation.run()
        second = simulation.run()
        assert [a.key for a in dry.actions] == [a.key for a in first.actions], f"dry run on {day}"
        assert second.actions == [] and second.summary["emails"] == 0, f"second run on {day} sent again"
        for company_id, target in pushes.get(number, []):
            simulation.order(company_id, float(Decimal(target) - revenue.get(company_id, Decimal(0))))

    actual: set[tuple[str, str, str, date]] = set()
    sent = simulation.mailer.sent()
    for message in sent:
        parts = message.key.split(":")
        company_id, kind, level = parts[1], parts[3], parts[4]
        day = datetime.fromisoformat(message.written_at).astimezone(ROME).date()
        actual.add((company_id, kind, level, day))

    assert len(sent) == len(actual), "one email per company, kind and day (the primary consenting contact)"
    assert actual == expected
    assert (two_steps, "congrats", "silver", start + timedelta(days=5)) in actual
    assert not {a for a in actual if a[0] == falling and a[3] == start + timedelta(days=8)}
    assert (pushed, "progress", "silver", start + timedelta(days=11)) in actual
    assert not {a for a in actual if a[0] == newcomer}
    assert (early, "progress", "bronze", start + timedelta(days=2)) in actual
    assert (early, "progress", "bronze", start + timedelta(days=32)) in actual
    assert sum(1 for a in actual if a[1] == "progress") >= 8
