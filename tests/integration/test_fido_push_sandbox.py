"""fido_push over the sandbox portal, through the real HubSpot adapter over HTTP, with the portal's clock pinned.

Who may be listed is worked out here from full listings of the portal (every company, every deal with its
associations), independently of the search and the association reads the service makes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.models import CrmRecord
from flywheel.ports import AssociationTarget
from flywheel.services import fido_push
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_number

pytestmark = pytest.mark.sandbox

COMPANIES = 300
ROME_TZ = "Europe/Rome"


def all_records(crm: HubSpotCrm, object_type: str, properties: list[str], associations: list[str]) -> list[CrmRecord]:
    return [r for page in crm.list_pages(object_type, properties, associations=associations) for r in page.records]


def qualifying(crm: HubSpotCrm, settings: Settings) -> dict[str, set[str]]:
    """The names each owner's digest may list: the rules of issue 12, applied to the full listings."""
    contract = settings.portal
    pipelines = {p.id: p for p in crm.pipelines("deals")}
    working = {p.id for p in pipelines.values() if p.label in [*contract.order_pipelines, contract.wakeup_pipeline]}
    busy: set[str] = set()
    for deal in all_records(crm, "deals", ["pipeline", "dealstage"], ["companies"]):
        pipeline = pipelines.get(deal.prop("pipeline") or "")
        stage = pipeline.stage(deal.prop("dealstage") or "") if pipeline else None
        if pipeline is not None and pipeline.id in working and stage is not None and not stage.is_closed:
            busy.update(deal.associations.get("companies", ()))
    allowed: dict[str, set[str]] = defaultdict(set)
    properties = [contract.company_name, "hubspot_owner_id", contract.category, contract.available_credit]
    for company in all_records(crm, "companies", properties, []):
        credit = parse_number(company.prop(contract.available_credit)) or 0.0
        owner = company.prop("hubspot_owner_id")
        if credit < settings.fido.min_available_credit or not owner or company.id in busy:
            continue
        if company.prop(contract.category) in settings.cold.excluded_categories:
            continue
        allowed[owner].add(company.prop(contract.company_name) or "")
    return allowed


def listed_names(task: CrmRecord) -> list[str]:
    body = task.prop("hs_task_body") or ""
    return [
        line.split(". ", 1)[1].split(" - fido disponibile", 1)[0] for line in body.splitlines() if line[:1].isdigit()
    ]


def test_weekly_digests_over_three_weeks_one_per_owner_never_empty_never_an_excluded_company(
    sandbox_factory: Callable[..., Any], today: date, tmp_path: Path
) -> None:
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, time(7, 30), ZoneInfo(ROME_TZ))
    server = sandbox_factory(companies=COMPANIES, seed=21, now=start)
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
    settings = Settings()
    clock = FixedClock(start)
    ports = Ports(
        crm=crm,
        state=SqliteStateStore(str(tmp_path / "state.db")),
        mailer=OutboxMailer(tmp_path / "outbox"),
        clock=clock,
        settings=settings,
    )
    wakeup = next(p for p in crm.pipelines("deals") if p.label == settings.portal.wakeup_pipeline)
    new_stage = wakeup.stage_by_label(settings.portal.wakeup_stage_new)
    removed: str | None = None

    for week in range(3):
        instant = start + timedelta(weeks=week)
        for at in (instant, instant + timedelta(minutes=5), instant + timedelta(days=2)):  # a retry, a stray run
            clock.set(at)
            server.store.clock.pin(at)
            fido_push.run(fido_push.Request(), ports)

        allowed = qualifying(crm, settings)
        iso = (monday + timedelta(weeks=week)).isocalendar()
        key_week = f"{iso.year}-W{iso.week:02d}"
        tasks = [
            t
            for t in all_records(crm, "tasks", ["hs_task_body", "hubspot_owner_id", "flywheel_key"], [])
            if (t.prop("flywheel_key") or "").endswith(key_week) and (t.prop("flywheel_key") or "").startswith("fido")
        ]
        owners = [t.prop("hubspot_owner_id") for t in tasks]
        assert len(owners) == len(set(owners)) == len(allowed)  # one per owner with a qualifying company
        for task in tasks:
            names = listed_names(task)
            assert 1 <= len(names) <= settings.fido.max_companies
            assert set(names) <= allowed[task.prop("hubspot_owner_id") or ""]
            assert removed not in names

        # before next week, the assistant opens a Wake Up deal on the first company of one digest
        first_name = listed_names(tasks[0])[0]
        company = next(
            c
            for c in all_records(crm, "companies", [settings.portal.company_name, "hubspot_owner_id"], [])
            if c.prop(settings.portal.company_name) == first_name
            and c.prop("hubspot_owner_id") == tasks[0].prop("hubspot_owner_id")
        )
        crm.create(
            "deals",
            {"dealname": f"Wake Up - {first_name}", "pipeline": wakeup.id, "dealstage": new_stage.id},
            [AssociationTarget("companies", company.id)],
        )
        removed = first_name
