"""fido_push over the in-memory CRM: the digest tasks each owner finds in the portal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.models import CrmRecord
from flywheel.services import fido_push
from flywheel.services.context import Ports

MONDAY = date(2026, 11, 30)
ROME = ZoneInfo("Europe/Rome")


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FixedClock.on(MONDAY, at=time(7, 30))
        self.crm = MemoryCrm.with_default_schema(now=self.clock.now)
        self.state = MemoryStateStore()
        self.ports = Ports(
            crm=self.crm,
            state=self.state,
            mailer=OutboxMailer(tmp_path / "outbox"),
            clock=self.clock,
            settings=Settings(),
        )
        self.contract = self.ports.settings.portal

    def company(
        self, name: str, credit: float | None, *, owner: int = 0, sirank: int | None = None, **properties: Any
    ) -> str:
        values: dict[str, Any] = {"owner_id": self.crm.reps[owner].id, **properties}
        if credit is not None:
            values[self.contract.available_credit] = f"{credit:.2f}"
        if sirank is not None:
            values[self.contract.sirank] = str(sirank)
        return self.crm.add_company(name, **values)

    def run(self, **body: Any) -> fido_push.RunResult:
        return fido_push.run(fido_push.Request.model_validate(body), self.ports)

    def digests(self, owner: int | None = None) -> list[CrmRecord]:
        tasks = [t for t in self.crm.all("tasks") if (t.properties.get("hs_task_subject") or "").startswith("Fido")]
        if owner is None:
            return tasks
        return [t for t in tasks if t.properties.get("hubspot_owner_id") == self.crm.reps[owner].id]

    def listed(self, task: CrmRecord) -> list[str]:
        """The company names of a digest, in its order."""
        body = task.properties.get("hs_task_body") or ""
        return [line.split(". ", 1)[1].split(" - ", 1)[0] for line in body.splitlines() if line[:1].isdigit()]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield World(tmp_path)


def test_each_owner_gets_one_digest_ranked_by_credit_then_sirank(world: World) -> None:
    world.company("Alfa S.r.l.", 5000.0, sirank=100)
    world.company("Beta S.r.l.", 12000.0, sirank=10)
    world.company("Gamma S.r.l.", 5000.0, sirank=9000, last_purchase_date="2026-10-02")
    world.company("Delta S.r.l.", 3000.0, owner=1)

    result = world.run()

    [first] = world.digests(owner=0)
    assert world.listed(first) == ["Beta S.r.l.", "Gamma S.r.l.", "Alfa S.r.l."]
    body = first.properties["hs_task_body"] or ""
    assert "2. Gamma S.r.l. - fido disponibile 5.000,00 € - SiRank 9.000 - ultimo ordine 02/10/2026" in body
    assert "ultimo ordine nessuno" in body
    assert first.properties["hs_task_subject"] == "Fido disponibile: 3 clienti da sentire (settimana 49)"
    assert first.properties["hs_timestamp"] == datetime(2026, 11, 30, 9, 0, tzinfo=ROME).isoformat()
    [second] = world.digests(owner=1)
    assert world.listed(second) == ["Delta S.r.l."]
    assert result.summary["digests_created"] == 2
    assert result.summary["companies_listed"] == 4 and result.summary["credit_listed"] == 25000.0


@pytest.mark.parametrize(("credit", "listed"), [(999.99, False), (1000.0, True), (None, False)])
def test_a_company_is_listed_from_1000_eur_of_available_credit(
    world: World, credit: float | None, listed: bool
) -> None:
    world.company("Alfa S.r.l.", credit)
    world.run()
    assert len(world.digests()) == int(listed)


def test_a_digest_lists_at_most_ten_companies(world: World) -> None:
    for n in range(12):
        world.company(f"Cliente {n:02d}", 1000.0 + n)
    world.run()
    [digest] = world.digests()
    assert len(world.listed(digest)) == 10
    assert world.listed(digest)[0] == "Cliente 11" and "Cliente 01" not in world.listed(digest)


def test_companies_the_wakeup_pipeline_or_an_open_order_is_working_are_left_out(world: World) -> None:
    wakeup = world.company("In Wake Up S.r.l.", 9000.0)
    world.crm.add_deal(wakeup, pipeline=world.contract.wakeup_pipeline, stage=world.contract.wakeup_stage_contacted)
    ordering = world.company("Ordine aperto S.r.l.", 9000.0)
    world.crm.add_deal(ordering, pipeline=world.contract.order_pipelines[1], stage="Offerta inviata")
    closed = world.company("Wake Up chiuso S.r.l.", 8000.0)
    world.crm.add_deal(closed, pipeline=world.contract.wakeup_pipeline, stage=world.contract.wakeup_stage_won)
    world.crm.add_order(closed, 500.0, MONDAY - timedelta(days=3))
    world.company("Comune di Prova", 9000.0, category="public_administration")
    world.company("Mario Privato", 9000.0, category="end_user")

    result = world.run()

    [digest] = world.digests()
    assert world.listed(digest) == ["Wake Up chiuso S.r.l."]
    excluded = result.summary["excluded"]
    assert (excluded["open_wakeup"], excluded["open_order_deal"], excluded["category"]) == (1, 1, 2)


def test_an_owner_with_no_qualifying_company_gets_no_task(world: World) -> None:
    world.company("Alfa S.r.l.", 500.0, owner=0)
    world.company("Beta S.r.l.", 5000.0, owner=1)
    result = world.run()
    assert world.digests(owner=0) == [] and len(world.digests(owner=1)) == 1
    assert result.summary["digests_created"] == 1


def test_nobody_gets_a_task_when_no_company_qualifies(world: World) -> None:
    world.company("Alfa S.r.l.", 500.0)
    result = world.run()
    assert world.crm.all("tasks") == [] and result.actions == []


def test_one_digest_per_owner_per_iso_week(world: World) -> None:
    world.company("Alfa S.r.l.", 5000.0)
    first = world.run()
    world.clock.set(world.clock.now() + timedelta(days=2))
    world.company("Beta S.r.l.", 7000.0)
    same_week = world.run()
    world.clock.set(world.clock.now() + timedelta(days=5))
    next_week = world.run()

    assert [r.summary["digests_created"] for r in (first, same_week, next_week)] == [1, 0, 1]
    assert same_week.summary["already_sent"] == 1
    assert len(world.digests()) == 2
    latest = max(world.digests(), key=lambda t: int(t.id))
    assert world.listed(latest) == ["Beta S.r.l.", "Alfa S.r.l."]


def test_a_dry_run_lists_the_digests_and_creates_nothing(world: World) -> None:
    world.company("Alfa S.r.l.", 5000.0)
    result = world.run(dry_run=True)
    assert [a.type for a in result.actions] == ["create_task"]
    assert world.digests() == [] and result.summary["companies_listed"] == 1
