"""Effects over the sandbox portal through the real HubSpot adapter: a refused record does not stall a run, and a
state store that is new (or was lost) creates nothing a run already created in HubSpot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.domain.models import Action, CreateTask
from flywheel.ports import AssociationTarget, RecordRefusal
from flywheel.services import nurture
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from tests.fakes import mail_settings, nurture_rules

pytestmark = pytest.mark.sandbox

SETTINGS = mail_settings(nurture=nurture_rules())


def crm_for(server: Any) -> HubSpotCrm:
    return HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)


def ports_for(crm: Any, state_path: Path, now: datetime, outbox: Path) -> Ports:
    return Ports(
        crm=crm,
        state=SqliteStateStore(str(state_path)),
        mailer=OutboxMailer(outbox),
        clock=FixedClock(now),
        settings=SETTINGS,
    )


def test_a_batch_update_refusing_one_invalid_value_applies_every_other_record(sandbox: Any) -> None:
    crm = crm_for(sandbox)
    ids = [sandbox.store.create_object("companies", {"name": f"Azienda {n}"}) for n in range(7)]
    updates = [(company_id, {"sirank": str(100 + n)}) for n, company_id in enumerate(ids)]
    updates[4] = (ids[4], {"sirank": "molto alto"})  # not a number: HubSpot refuses the whole batch for it

    refusals = crm.update_batch("companies", updates)

    assert [(r.record_id, r.status) for r in refusals] == [(ids[4], 400)]
    assert "INVALID_FLOAT" in refusals[0].reason  # HubSpot's reason, kept for the summary
    held = {r.id: r.prop("sirank") for r in crm.read_batch("companies", ids, ["sirank"])}
    assert held == {cid: (None if n == 4 else str(100 + n)) for n, cid in enumerate(ids)}


class MergesAwayBeforeUpdating:
    """HubSpot while a company is merged into another between the run's read and its batch update (a 207)."""

    def __init__(self, inner: HubSpotCrm, server: Any, victim: str) -> None:
        self.inner, self.server, self.victim = inner, server, victim
        self.refusals: list[RecordRefusal] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update_batch(self, object_type: str, updates: Sequence[tuple[str, Mapping[str, str]]]) -> list[RecordRefusal]:
        if object_type == "companies" and any(company_id == self.victim for company_id, _ in updates):
            self.server.store.archive_object("companies", self.victim)
        refusals = self.inner.update_batch(object_type, updates)
        self.refusals += refusals
        return refusals


def lukewarm_company(server: Any, name: str, last_order: str) -> str:
    company = server.store.create_object("companies", {"name": name, "last_purchase_date": last_order})
    server.store.create_object(
        "contacts",
        {
            "email": f"acquisti@{name.lower().replace(' ', '')}.it",
            "hs_legal_basis": "Legitimate interest – existing customer",
        },
        [("companies", company)],
    )
    return company


def test_one_company_refused_in_a_batch_update_does_not_stop_the_others_sequences(
    sandbox: Any, now: datetime, tmp_path: Path
) -> None:
    last_order = (now.date() - timedelta(days=61)).isoformat()
    companies = [lukewarm_company(sandbox, f"Cliente {n}", last_order) for n in range(4)]
    crm = MergesAwayBeforeUpdating(crm_for(sandbox), sandbox, victim=companies[2])
    ports = ports_for(crm, tmp_path / "state.db", now, tmp_path / "outbox")

    result = nurture.run(nurture.Request(), ports)

    assert [r.record_id for r in crm.refusals] == [companies[2]]
    assert result.summary["effects"]["failed:update_company"] == 1
    assert result.summary["effects"]["updated:update_company"] == 3
    steps = {c: [r.step for r in ports.state.sequences_of_company(nurture.KIND, c)] for c in companies}
    assert steps == {c: [1] for c in companies}  # every email that went out is recorded
    shown = {r.id: r.prop("nurture_step") for r in crm.read_batch("companies", companies, ["nurture_step"])}
    assert shown == {c: "1" for c in companies if c != companies[2]}


def task(company_id: str, key: str) -> Action:
    return CreateTask(company_id=company_id, key=key, subject="Richiamare il cliente")


def test_a_new_state_store_creates_nothing_hubspot_already_holds(sandbox: Any, now: datetime, tmp_path: Path) -> None:
    crm = crm_for(sandbox)
    companies = [sandbox.store.create_object("companies", {"name": f"Azienda {n}"}) for n in range(130)]
    actions = [task(c, f"cold_segment:{c}:recontact:2026-05-04") for c in companies]
    first = EffectExecutor(ports_for(crm, tmp_path / "first.db", now, tmp_path / "outbox")).execute(actions)
    searches_before = sandbox.store.stats()["calls"]["by_endpoint"].get("POST /crm/v3/objects/{objectType}/search", 0)

    # the state file is lost: a new one is pointed at the same portal
    again = EffectExecutor(ports_for(crm, tmp_path / "second.db", now, tmp_path / "outbox")).execute(actions)

    assert first.total("created") == 130
    assert again.total("found_existing") == 130 and again.total("created") == 0
    tasks = sandbox.store.counts()["tasks"]
    assert tasks == 130
    searches = sandbox.store.stats()["calls"]["by_endpoint"]["POST /crm/v3/objects/{objectType}/search"]
    assert searches - searches_before == 2  # one search per 100 keys


def test_a_task_created_by_hand_with_the_key_is_found_not_duplicated(
    sandbox: Any, now: datetime, tmp_path: Path
) -> None:
    crm = crm_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "Rossi Srl"})
    key = f"cold_segment:{company}:recontact:2026-05-04"
    crm.create(
        "tasks", {"hs_task_subject": "Già creato", "flywheel_key": key}, [AssociationTarget("companies", company)]
    )

    report = EffectExecutor(ports_for(crm, tmp_path / "state.db", now, tmp_path / "outbox")).execute(
        [task(company, key)]
    )

    assert report.as_dict() == {"found_existing:create_task": 1}
    assert sandbox.store.counts()["tasks"] == 1
