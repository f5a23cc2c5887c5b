"""Portal provisioning (infra/portal.py) against the sandbox portal, over real HTTP through hubspot-api-client.

An un-provisioned sandbox (`provisioned=False`) lacks Flywheel's own properties and the Wake Up pipeline, as a
real portal does before the first run; what the tests check is the portal's schema afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.config import ColdRules, PortalContract, Settings
from flywheel.mail.hubspot_emails import hubspot_emails
from flywheel.services.portal import PortalSchema
from infra.portal import PortalApi, Report, Status, cold_properties, main, owned_properties, provision

pytestmark = pytest.mark.sandbox

CONTRACT = PortalContract()
COLD = ColdRules()
FLYWHEEL_COMPANY_PROPERTIES = (
    "sirank",
    "last_purchase_date",
    "retention_segment",
    "revenue_mtd",
    "revenue_prev_month",
    "revenue_ytd",
    "nurture_step",
    "nurture_status",
)


@pytest.fixture
def bare_portal(sandbox_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    server = sandbox_factory(provisioned=False)
    point_at(server, monkeypatch)
    return server


def point_at(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_API_BASE", server.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", server.token)
    monkeypatch.setenv("HUBSPOT_RATE_LIMIT", "0")


def provision_portal(
    server: Any, contract: PortalContract = CONTRACT, *, dry_run: bool = False, cold: ColdRules = COLD
) -> Report:
    api = PortalApi(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)
    return provision(api, contract, dry_run=dry_run, cold=cold)


def eligible_list(server: Any) -> dict[str, Any] | None:
    from sandbox.errors import PortalError

    try:
        found: dict[str, Any] = server.store.list_by_name("0-2", COLD.eligible_list, include_filters=True)["list"]
    except PortalError:
        return None
    return found


def schema_of(server: Any) -> dict[str, Any]:
    """Everything provisioning could touch: property definitions and groups, deal pipelines, the list."""
    return {
        "properties": {t: server.store.property_definitions(t) for t in ("companies", "contacts", "deals", "tasks")},
        "groups": {t: server.store.property_groups(t) for t in ("companies", "deals", "tasks")},
        "pipelines": server.store.pipelines("deals"),
        "list": eligible_list(server),
    }


def definition(server: Any, object_type: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = server.store.property_definition(object_type, name)
    return found


def subjects(report: Report, status: Status) -> list[str]:
    return [finding.subject for finding in report.with_status(status)]


def test_the_bare_sandbox_lacks_what_provisioning_creates(bare_portal: Any) -> None:
    names = {d["name"] for d in bare_portal.store.property_definitions("companies")}
    assert names.isdisjoint(FLYWHEEL_COMPANY_PROPERTIES)
    assert "wakeup_eligible" not in names
    assert CONTRACT.wakeup_pipeline not in {p["label"] for p in bare_portal.store.pipelines("deals")}
    assert eligible_list(bare_portal) is None


def test_a_run_on_a_bare_portal_creates_everything_flywheel_writes_and_the_portal_then_loads(
    bare_portal: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 0

    sirank = definition(bare_portal, "companies", "sirank")
    assert (sirank["type"], sirank["groupName"], sirank["label"]) == ("number", "flywheel", "SiRank")
    assert definition(bare_portal, "companies", "last_purchase_date")["type"] == "date"
    segment = definition(bare_portal, "companies", "retention_segment")
    assert [o["value"] for o in segment["options"]] == ["active", "lukewarm", "cold", "lost", "never"]
    assert segment["label"] == "Segmento di fidelizzazione"
    status = definition(bare_portal, "companies", "nurture_status")
    assert [o["value"] for o in status["options"]] == ["active", "converted", "completed", "no_consent"]
    for object_type in ("deals", "tasks"):
        key = definition(bare_portal, object_type, "flywheel_key")
        assert (key["type"], key["formField"]) == ("string", False)
    kind = definition(bare_portal, "deals", "wakeup_appointment_kind")
    assert {o["value"]: o["label"] for o in kind["options"]} == {"teams_call": "Chiamata Teams", "visit": "Visita"}
    assert definition(bare_portal, "deals", "wakeup_appointment_at")["type"] == "datetime"
    assert definition(bare_portal, "deals", "wakeup_notes")["fieldType"] == "textarea"
    company_groups = {group["name"]: group["label"] for group in bare_portal.store.property_groups("companies")}
    assert company_groups["flywheel"] == "Flywheel"

    crm = HubSpotCrm(api_base=bare_portal.url, access_token=bare_portal.token, rate_limit_per_10s=0)
    schema = PortalSchema.load(crm, Settings().portal)
    assert [stage.label for stage in schema.wakeup_pipeline.stages] == [
        "Da contattare",
        "Contattato",
        "Interessato",
        "Appuntamento fissato",
        "Riattivato",
        "Non interessato",
    ]
    assert schema.wakeup_stage("Riattivato").is_won
    lost = schema.wakeup_stage("Non interessato")
    assert (lost.is_closed, lost.probability) == (True, 0.0)
    assert "portal ready for Flywheel" in capsys.readouterr().out


def test_a_second_run_creates_nothing_and_changes_nothing(bare_portal: Any) -> None:
    first = provision_portal(bare_portal)
    assert first.ready and len(subjects(first, Status.CREATED)) >= 11
    after_first = schema_of(bare_portal)

    second = provision_portal(bare_portal)

    assert second.ready
    assert subjects(second, Status.CREATED) == []
    assert len(subjects(second, Status.PRESENT)) == len(second.findings)
    assert schema_of(bare_portal) == after_first


def test_a_fully_set_up_portal_is_ready_as_it_is(sandbox_factory: Callable[..., Any]) -> None:
    portal = sandbox_factory()
    before = schema_of(portal)

    report = provision_portal(portal)

    assert report.ready, report.render()
    assert subjects(report, Status.CREATED) == []
    assert schema_of(portal) == before


def test_a_dry_run_from_the_command_line_reports_what_it_would_create_and_creates_nothing(bare_portal: Any) -> None:
    before = schema_of(bare_portal)

    run = subprocess.run(
        [sys.executable, "-m", "infra.portal", "--dry-run"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    # every property Flywheel writes, the Wake Up pipeline, the CLIENTI FREDDI list and the marketing emails
    expected = len(owned_properties(CONTRACT)) + len(cold_properties(COLD)) + 2 + len(hubspot_emails())
    assert f"would create ({expected}):" in run.stdout
    assert "company list 'CLIENTI FREDDI': dynamic: wakeup_eligible = true" in run.stdout
    assert "deal pipeline 'Wake Up Pipeline'" in run.stdout
    assert schema_of(bare_portal) == before


def test_a_property_of_another_type_is_reported_as_a_conflict_and_left_alone(bare_portal: Any) -> None:
    bare_portal.store.create_property(
        "companies",
        {"name": "sirank", "label": "SiRank (testo)", "type": "string", "fieldType": "text", "groupName": "sicomputer"},
    )

    report = provision_portal(bare_portal)

    assert not report.ready
    assert subjects(report, Status.CONFLICT) == ["companies property sirank (number)"]
    sirank = definition(bare_portal, "companies", "sirank")
    assert (sirank["type"], sirank["label"]) == ("string", "SiRank (testo)")
    assert definition(bare_portal, "companies", "nurture_step")["type"] == "number"  # the rest was provisioned


def test_a_missing_order_pipeline_makes_the_run_fail(
    bare_portal: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLYWHEEL_PORTAL__ORDER_PIPELINES", '["Pipeline delle vendite", "Ordini B2B"]')

    assert main([]) == 1

    out = capsys.readouterr().out
    assert "missing (not ours to create) (1):\n  - order pipeline 'Ordini B2B'" in out
    assert "portal NOT ready" in out
    assert "Ordini B2B" not in {p["label"] for p in bare_portal.store.pipelines("deals")}


def test_a_wake_up_pipeline_with_other_stages_is_reported_and_not_changed(sandbox_factory: Callable[..., Any]) -> None:
    portal = sandbox_factory()
    before = portal.store.pipelines("deals")
    contract = PortalContract(wakeup_stage_won="Cliente riattivato")

    report = provision_portal(portal, contract)

    assert not report.ready
    [differs] = report.with_status(Status.DIFFERS)
    assert differs.subject == "deal pipeline 'Wake Up Pipeline'"
    assert "no stage 'Cliente riattivato'" in differs.detail
    assert portal.store.pipelines("deals") == before


def test_a_missing_sales_assistant_is_reported_not_created(bare_portal: Any) -> None:
    contract = PortalContract(sales_assistant_email="nessuno@sicomputer.it")

    report = provision_portal(bare_portal, contract)

    assert subjects(report, Status.MISSING) == ["owner nessuno@sicomputer.it"]
    assert not report.ready


def test_a_run_creates_the_dynamic_list_clienti_freddi_of_eligible_companies_once(bare_portal: Any) -> None:
    first = provision_portal(bare_portal)

    created = eligible_list(bare_portal)
    assert created is not None
    assert (created["processingType"], created["objectTypeId"]) == ("DYNAMIC", "0-2")
    [branch] = created["filterBranch"]["filterBranches"]
    assert branch["filters"] == [
        {
            "filterType": "PROPERTY",
            "property": "wakeup_eligible",
            "operation": {"operationType": "BOOL", "operator": "IS_EQUAL_TO", "value": True},
        }
    ]
    eligible = definition(bare_portal, "companies", "wakeup_eligible")
    assert (eligible["type"], eligible["label"]) == ("bool", "Idoneo al Wake Up")
    assert "company list 'CLIENTI FREDDI'" in subjects(first, Status.CREATED)

    second = provision_portal(bare_portal)

    assert "company list 'CLIENTI FREDDI'" in subjects(second, Status.PRESENT)
    assert eligible_list(bare_portal) == created


def test_a_list_of_that_name_that_is_not_dynamic_is_reported_and_left_alone(bare_portal: Any) -> None:
    bare_portal.store.create_list({"name": "Clienti Freddi", "objectTypeId": "0-2", "processingType": "MANUAL"})

    report = provision_portal(bare_portal)

    [differs] = report.with_status(Status.DIFFERS)
    assert differs.subject == "company list 'CLIENTI FREDDI'" and "MANUAL" in differs.detail
    assert not report.ready
    assert eligible_list(bare_portal)["processingType"] == "MANUAL"  # type: ignore[index]


def test_a_dynamic_list_of_that_name_on_another_filter_is_reported(bare_portal: Any) -> None:
    provision_portal(bare_portal)  # the property must exist before a list can filter on it
    other = ColdRules(eligible_list="CLIENTI TIEPIDI")
    bare_portal.store.create_list(
        {
            "name": "CLIENTI TIEPIDI",
            "objectTypeId": "0-2",
            "processingType": "DYNAMIC",
            "filterBranch": {
                "filterBranchType": "OR",
                "filterBranches": [
                    {
                        "filterBranchType": "AND",
                        "filters": [
                            {
                                "filterType": "PROPERTY",
                                "property": "retention_segment",
                                "operation": {
                                    "operationType": "ENUMERATION",
                                    "operator": "IS_ANY_OF",
                                    "values": ["lukewarm"],
                                },
                            }
                        ],
                    }
                ],
            },
        }
    )

    report = provision_portal(bare_portal, cold=other)

    [differs] = report.with_status(Status.DIFFERS)
    assert "its filters are not just wakeup_eligible = true" in differs.detail


def test_the_nurture_gift_is_provisioned_on_companies_for_the_shop_to_read(bare_portal: Any) -> None:
    report = provision_portal(bare_portal)

    code = definition(bare_portal, "companies", CONTRACT.nurture_coupon_code)
    expires = definition(bare_portal, "companies", CONTRACT.nurture_coupon_expires)
    assert (code["type"], code["label"]) == ("string", "Coupon nurture")
    assert (expires["type"], expires["label"]) == ("date", "Scadenza coupon nurture")
    assert f"companies property {CONTRACT.nurture_coupon_code} (string)" in subjects(report, Status.CREATED)
