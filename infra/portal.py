"""HubSpot portal provisioning as code: what Flywheel writes is created, what it only reads is verified.

    python -m infra.portal [--dry-run]

The portal and token come from the environment (`HUBSPOT_API_BASE`, `HUBSPOT_ACCESS_TOKEN`) and the names from
the portal contract (`FLYWHEEL_PORTAL__...`), exactly as the functions read them. A run is idempotent and never
deletes, renames or changes anything that exists in the portal: a property of the same name but another type is
reported as a conflict, a Wake Up pipeline whose stages differ is reported, not repaired. `--dry-run` only reads.

The dynamic (active) company list "CLIENTI FREDDI" (`FLYWHEEL_COLD__ELIGIBLE_LIST`) is created through the Lists
API v3: the companies whose `wakeup_eligible` (written by cold_segment) is true. A list of that name that is not
dynamic or filters on something else is reported as a difference, never changed.

Exit status: 0 when the portal is ready for Flywheel (or, with --dry-run, would be after a real run), 1 when
something is missing or in conflict that provisioning may not create or change, 2 when the portal cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, TypeVar

from flywheel.adapters.hubspot import HubSpotCrm, classify_failure
from flywheel.adapters.ratelimit import RequestFailed, RetryPolicy, RollingWindowLimiter, call_with_retries
from flywheel.config import ColdRules, PortalContract, Settings
from flywheel.domain.models import Pipeline, Stage
from flywheel.mail.hubspot_emails import HubSpotEmail, hubspot_emails, template_of
from flywheel.ports import CrmError

T = TypeVar("T")

FLYWHEEL_GROUP = "flywheel"
FLYWHEEL_GROUP_LABEL = "Flywheel"
COMPANY_OBJECT_TYPE_ID = "0-2"  # HubSpot's object type id of companies, as the Lists API names it

# --- what Flywheel needs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertySpec:
    """A custom property Flywheel writes, created when absent."""

    object_type: str
    name: str
    label: str
    type: str  # HubSpot property type: string, number, date, datetime, enumeration, bool
    field_type: str  # how HubSpot's forms and record pages show it: text, textarea, number, date, select
    options: tuple[tuple[str, str], ...] = ()  # (value, Italian label) of an enumeration
    description: str = ""
    form_field: bool = True


@dataclass(frozen=True)
class ReadPropertySpec:
    """A property Flywheel only reads (or a HubSpot one it writes known values to): verified, never created."""

    object_type: str
    name: str
    # option values Flywheel writes into it, which must exist for its writes to succeed
    required_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSpec:
    label: str
    probability: float
    closed: bool


def owned_properties(contract: PortalContract) -> list[PropertySpec]:
    """The properties Flywheel writes, under the contract's (configurable) names, with Italian labels."""
    key_description = "Chiave di idempotenza dei record creati da Flywheel"
    return [
        PropertySpec(
            "companies", contract.sirank, "SiRank", "number", "number", description="Valore del cliente (Flywheel)"
        ),
        PropertySpec("companies", contract.last_purchase_date, "Data ultimo acquisto", "date", "date"),
        PropertySpec(
            "companies",
            contract.retention_segment,
            "Segmento di fidelizzazione",
            "enumeration",
            "select",
            options=(
                ("active", "Attivo"),
                ("lukewarm", "Tiepido"),
                ("cold", "Freddo"),
                ("lost", "Perso"),
                ("never", "Mai acquistato"),
            ),
        ),
        # the overview columns of a company, so that HubSpot's own views and reports show them
        PropertySpec(
            "companies",
            contract.revenue_mtd,
            "Fatturato mese corrente",
            "number",
            "number",
            description="Ordini del mese in corso fino a oggi, in EUR (Flywheel)",
        ),
        PropertySpec(
            "companies",
            contract.revenue_prev_month,
            "Fatturato mese precedente",
            "number",
            "number",
            description="Ordini del mese solare precedente, in EUR (Flywheel)",
        ),
        PropertySpec(
            "companies",
            contract.revenue_ytd,
            "Fatturato anno corrente",
            "number",
            "number",
            description="Ordini dal 1° gennaio a oggi, in EUR (Flywheel)",
        ),
        PropertySpec("companies", contract.nurture_step, "Passo nurture", "number", "number"),
        PropertySpec(
            "companies",
            contract.nurture_status,
            "Stato nurture",
            "enumeration",
            "select",
            options=(
                ("active", "In corso"),
                ("converted", "Convertito"),
                ("completed", "Completato"),
                ("no_consent", "Senza consenso"),
            ),
        ),
        # the nurture gift, honoured by the e-commerce site, which reads HubSpot
        PropertySpec(
            "companies",
            contract.nurture_coupon_code,
            "Coupon nurture",
            "string",
            "text",
            description="Codice del coupon regalo inviato con la seconda email nurture (Flywheel)",
        ),
        PropertySpec("companies", contract.nurture_coupon_expires, "Scadenza coupon nurture", "date", "date"),
        # an idempotency key is nobody's to type in: kept off forms
        *(
            PropertySpec(
                object_type,
                contract.flywheel_key,
                "Chiave Flywheel",
                "string",
                "text",
                description=key_description,
                form_field=False,
            )
            for object_type in ("deals", "tasks")
        ),
        PropertySpec("deals", contract.wakeup_appointment_at, "Data appuntamento", "datetime", "date"),
        PropertySpec(
            "deals",
            contract.wakeup_appointment_kind,
            "Tipo di appuntamento",
            "enumeration",
            "select",
            options=(("teams_call", "Chiamata Teams"), ("visit", "Visita")),
        ),
        PropertySpec("deals", contract.wakeup_notes, "Note dell'assistente commerciale", "string", "textarea"),
    ]


def cold_properties(cold: ColdRules) -> list[PropertySpec]:
    """The company property cold_segment keeps, which the CLIENTI FREDDI list filters on."""
    return [
        PropertySpec(
            "companies",
            cold.eligible_property,
            "Idoneo al Wake Up",
            "bool",
            "booleancheckbox",
            options=(("true", "Sì"), ("false", "No")),
            description="Cliente freddo da richiamare (lista CLIENTI FREDDI), aggiornato da Flywheel",
        )
    ]


def eligible_list_definition(cold: ColdRules) -> dict[str, Any]:
    """The Lists API v3 body of CLIENTI FREDDI: companies whose `wakeup_eligible` is true, kept current by
    HubSpot (DYNAMIC). HubSpot wants an OR branch at the root and AND branches under it."""
    condition = {
        "filterType": "PROPERTY",
        "property": cold.eligible_property,
        "operation": {"operationType": "BOOL", "operator": "IS_EQUAL_TO", "value": True},
    }
    return {
        "name": cold.eligible_list,
        "objectTypeId": COMPANY_OBJECT_TYPE_ID,
        "processingType": "DYNAMIC",
        "filterBranch": {
            "filterBranchType": "OR",
            "filterBranchOperator": "OR",
            "filters": [],
            "filterBranches": [
                {"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [], "filters": [condition]}
            ],
        },
    }


def read_properties(contract: PortalContract) -> list[ReadPropertySpec]:
    """The portal's own properties Flywheel relies on, verified only."""
    return [
        ReadPropertySpec("companies", contract.category),
        ReadPropertySpec("companies", contract.province),
        ReadPropertySpec("companies", contract.dp_level),
        ReadPropertySpec("companies", contract.available_credit),
        ReadPropertySpec("companies", contract.cashback_available),
        # nurture suspends the e-commerce account after the fifth email
        ReadPropertySpec("companies", contract.ecommerce_status, required_options=("suspended",)),
        ReadPropertySpec("contacts", contract.contact_email),
        ReadPropertySpec("contacts", contract.contact_optout),
        ReadPropertySpec("contacts", contract.contact_legal_basis),
    ]


def wakeup_stages(contract: PortalContract) -> list[StageSpec]:
    return [
        StageSpec(contract.wakeup_stage_new, 0.1, closed=False),
        StageSpec(contract.wakeup_stage_contacted, 0.2, closed=False),
        StageSpec(contract.wakeup_stage_interested, 0.4, closed=False),
        StageSpec(contract.wakeup_stage_appointment, 0.6, closed=False),
        StageSpec(contract.wakeup_stage_won, 1.0, closed=True),
        StageSpec(contract.wakeup_stage_lost, 0.0, closed=True),
    ]


# --- the report ------------------------------------------------------------------------------------------------


class Status(Enum):
    CREATED = "created"
    WOULD_CREATE = "would create"
    UPDATED = "updated"
    WOULD_UPDATE = "would update"
    PRESENT = "already there"
    DIFFERS = "differs"
    CONFLICT = "conflict"
    MISSING = "missing (not ours to create)"

    @property
    def blocks(self) -> bool:
        """Whether the portal is not ready for Flywheel while this finding stands."""
        return self in (Status.DIFFERS, Status.CONFLICT, Status.MISSING)


@dataclass(frozen=True)
class Finding:
    status: Status
    subject: str
    detail: str = ""


@dataclass
class Report:
    dry_run: bool
    findings: list[Finding] = field(default_factory=list)

    def add(self, status: Status, subject: str, detail: str = "") -> None:
        self.findings.append(Finding(status, subject, detail))

    @property
    def ready(self) -> bool:
        return not any(finding.status.blocks for finding in self.findings)

    def with_status(self, status: Status) -> list[Finding]:
        return [finding for finding in self.findings if finding.status is status]

    def render(self) -> str:
        title = "HubSpot portal provisioning" + (" (dry run: nothing created)" if self.dry_run else "")
        lines = [title]
        for status in Status:
            found = self.with_status(status)
            if not found:
                continue
            lines.append(f"\n{status.value} ({len(found)}):")
            lines.extend(f"  - {f.subject}" + (f": {f.detail}" if f.detail else "") for f in found)
        verdict = "ready for Flywheel" if self.ready else "NOT ready: fix the items above in HubSpot"
        lines.append(f"\nportal {verdict}")
        return "\n".join(lines)


# --- HubSpot access --------------------------------------------------------------------------------------------


class PortalApi:
    """The schema endpoints provisioning uses, over hubspot-api-client (built on first use, once), rate-limited
    and retried like every Flywheel call; owners and pipelines are read through the product's own adapter."""

    def __init__(self, *, api_base: str, access_token: str, rate_limit_per_10s: int = 190) -> None:
        self._api_base = api_base.rstrip("/")
        self._access_token = access_token
        self._client: Any = None
        self._limiter = RollingWindowLimiter(rate_limit_per_10s)
        self.crm = HubSpotCrm(api_base=api_base, access_token=access_token, rate_limit_per_10s=rate_limit_per_10s)

    def properties(self, object_type: str) -> dict[str, Any]:
        """Property definitions (hubspot-api-client models) by name."""
        answer = self._call(
            f"{object_type} properties", lambda: self._hubspot().crm.properties.core_api.get_all(object_type)
        )
        return {definition.name: definition for definition in answer.results}

    def group_names(self, object_type: str) -> set[str]:
        answer = self._call(
            f"{object_type} property groups", lambda: self._hubspot().crm.properties.groups_api.get_all(object_type)
        )
        return {group.name for group in answer.results}

    def create_group(self, object_type: str, name: str, label: str) -> None:
        from hubspot.crm.properties import PropertyGroupCreate

        group = PropertyGroupCreate(name=name, label=label)
        groups_api = self._hubspot().crm.properties.groups_api
        self._call(
            f"create {object_type} group {name}",
            lambda: groups_api.create(object_type, property_group_create=group),
            repeat_safe=False,
        )

    def create_property(self, spec: PropertySpec, group: str) -> None:
        from hubspot.crm.properties import OptionInput, PropertyCreate

        options = [
            OptionInput(value=value, label=label, display_order=order, hidden=False)
            for order, (value, label) in enumerate(spec.options)
        ]
        definition = PropertyCreate(
            name=spec.name,
            label=spec.label,
            type=spec.type,
            field_type=spec.field_type,
            group_name=group,
            description=spec.description,
            options=options,
            form_field=spec.form_field,
        )
        core_api = self._hubspot().crm.properties.core_api
        self._call(
            f"create {spec.object_type} property {spec.name}",
            lambda: core_api.create(spec.object_type, property_create=definition),
            repeat_safe=False,
        )

    def create_pipeline(self, object_type: str, label: str, stages: Sequence[StageSpec]) -> str:
        from hubspot.crm.pipelines import PipelineInput, PipelineStageInput

        stage_inputs = [
            PipelineStageInput(
                label=stage.label,
                display_order=order,
                metadata={"isClosed": "true" if stage.closed else "false", "probability": str(stage.probability)},
            )
            for order, stage in enumerate(stages)
        ]
        pipeline = PipelineInput(label=label, display_order=-1, stages=stage_inputs)
        pipelines_api = self._hubspot().crm.pipelines.pipelines_api
        created = self._call(
            f"create {object_type} pipeline",
            lambda: pipelines_api.create(object_type, pipeline_input=pipeline),
            repeat_safe=False,
        )
        return str(created.id)

    def list_by_name(self, object_type_id: str, name: str) -> dict[str, Any] | None:
        """A list's definition with its filters (the Lists API's JSON), or None when there is none of that name."""
        lists_api = self._hubspot().crm.lists.lists_api
        try:
            # the raw JSON: the generated models flatten the filter branch's oneOf and would lose its filters
            response = self._call(
                f"list {name}",
                lambda: lists_api.get_by_name(name, object_type_id, include_filters=True, _preload_content=False),
            )
        except CrmError as error:
            if error.status == 404:
                return None
            raise
        found: dict[str, Any] = json.loads(response.data)["list"]
        return found

    def create_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        lists_api = self._hubspot().crm.lists.lists_api
        response = self._call(
            f"create list {definition['name']}",
            lambda: lists_api.create(definition, _preload_content=False),
            repeat_safe=False,
        )
        created: dict[str, Any] = json.loads(response.data)["list"]
        return created

    def _hubspot(self) -> Any:
        if self._client is None:
            from hubspot import Client  # imported here, as in the adapter: importing this module stays cheap

            # retry=False: no hidden urllib3 retries (of POSTs either) under our own policy
            self._client = Client.create(access_token=self._access_token, host=self._api_base, retry=False)
        return self._client

    def _call(self, what: str, request: Callable[[], T], *, repeat_safe: bool = True) -> T:
        try:
            return call_with_retries(
                request,
                classify=classify_failure,
                policy=RetryPolicy(),
                limiter=self._limiter,
                sleep=time.sleep,
                repeat_safe=repeat_safe,
            )
        except RequestFailed as failed:
            raise CrmError(
                f"HubSpot {what} failed (status {failed.failure.status}): {failed.failure.message}",
                status=failed.failure.status,
                transient=failed.failure.transient,
            ) from failed


# --- provisioning ----------------------------------------------------------------------------------------------


def provision(
    api: PortalApi, contract: PortalContract, *, dry_run: bool = False, cold: ColdRules | None = None
) -> Report:
    """Create what Flywheel writes and is missing, verify what it reads; the findings, in a report."""
    cold = cold or ColdRules()
    report = Report(dry_run=dry_run)
    definitions: dict[str, dict[str, Any]] = {}

    def properties_of(object_type: str) -> dict[str, Any]:
        if object_type not in definitions:
            definitions[object_type] = api.properties(object_type)
        return definitions[object_type]

    _provision_properties(api, [*owned_properties(contract), *cold_properties(cold)], properties_of, report)
    _verify_read_properties(read_properties(contract), properties_of, report)
    pipelines = api.crm.pipelines("deals")
    _provision_wakeup_pipeline(api, contract, pipelines, report)
    _verify_order_pipelines(contract, pipelines, report)
    _verify_sales_assistant(api, contract, report)
    _provision_eligible_list(api, cold, report)
    provision_marketing_emails(MarketingEmailsApi(api), report)
    return report


def _provision_properties(
    api: PortalApi, specs: Sequence[PropertySpec], properties_of: Callable[[str], dict[str, Any]], report: Report
) -> None:
    groups_ready: set[str] = set()
    for spec in specs:
        subject = f"{spec.object_type} property {spec.name} ({spec.type})"
        existing = properties_of(spec.object_type).get(spec.name)
        if existing is not None:
            _compare_property(spec, existing, subject, report)
            continue
        if report.dry_run:
            report.add(Status.WOULD_CREATE, subject, f"in group {FLYWHEEL_GROUP}")
            continue
        if spec.object_type not in groups_ready:
            if FLYWHEEL_GROUP not in api.group_names(spec.object_type):
                api.create_group(spec.object_type, FLYWHEEL_GROUP, FLYWHEEL_GROUP_LABEL)
                report.add(Status.CREATED, f"{spec.object_type} property group {FLYWHEEL_GROUP}")
            groups_ready.add(spec.object_type)
        api.create_property(spec, FLYWHEEL_GROUP)
        report.add(Status.CREATED, subject, f"in group {FLYWHEEL_GROUP}")


def _compare_property(spec: PropertySpec, existing: Any, subject: str, report: Report) -> None:
    if existing.type != spec.type:
        report.add(Status.CONFLICT, subject, f"the portal's is of type {existing.type}; left unchanged")
        return
    missing = _missing_options(existing, [value for value, _ in spec.options])
    if missing:
        report.add(Status.DIFFERS, subject, f"lacks the option(s) {', '.join(missing)}; left unchanged")
    else:
        report.add(Status.PRESENT, subject)


def _verify_read_properties(
    specs: Sequence[ReadPropertySpec], properties_of: Callable[[str], dict[str, Any]], report: Report
) -> None:
    for spec in specs:
        subject = f"{spec.object_type} property {spec.name}"
        existing = properties_of(spec.object_type).get(spec.name)
        if existing is None:
            report.add(Status.MISSING, subject)
            continue
        missing = _missing_options(existing, spec.required_options)
        if missing:
            report.add(Status.DIFFERS, subject, f"lacks the option(s) {', '.join(missing)}")
        else:
            report.add(Status.PRESENT, subject)


def _missing_options(definition: Any, values: Sequence[str]) -> list[str]:
    present = {option.value for option in definition.options or []}
    return [value for value in values if value not in present]


def _provision_wakeup_pipeline(
    api: PortalApi, contract: PortalContract, pipelines: Sequence[Pipeline], report: Report
) -> None:
    label = contract.wakeup_pipeline
    subject = f"deal pipeline {label!r}"
    expected = wakeup_stages(contract)
    existing = _find_pipeline(pipelines, label)
    if existing is None:
        stage_list = ", ".join(stage.label for stage in expected)
        if report.dry_run:
            report.add(Status.WOULD_CREATE, subject, f"stages {stage_list}")
        else:
            pipeline_id = api.create_pipeline("deals", label, expected)
            report.add(Status.CREATED, subject, f"id {pipeline_id}, stages {stage_list}")
        return
    differences = [difference for spec in expected if (difference := _stage_difference(existing, spec))]
    if differences:
        report.add(Status.DIFFERS, subject, "; ".join(differences) + "; left unchanged")
    else:
        report.add(Status.PRESENT, subject, f"id {existing.id}")


def _stage_difference(pipeline: Pipeline, spec: StageSpec) -> str | None:
    stage = next((s for s in pipeline.stages if s.label == spec.label), None)
    if stage is None:
        return f"no stage {spec.label!r}"
    if spec.closed and spec.probability >= 1.0 and not stage.is_won:
        return f"stage {spec.label!r} is not closed won"
    if spec.closed and spec.probability <= 0.0 and not _is_lost(stage):
        return f"stage {spec.label!r} is not closed lost"
    if not spec.closed and stage.is_closed:
        return f"stage {spec.label!r} is closed"
    return None


def _is_lost(stage: Stage) -> bool:
    return stage.is_closed and stage.probability is not None and stage.probability <= 0.0


def _verify_order_pipelines(contract: PortalContract, pipelines: Sequence[Pipeline], report: Report) -> None:
    for name in contract.order_pipelines:
        subject = f"order pipeline {name!r}"
        pipeline = _find_pipeline(pipelines, name)
        if pipeline is None:
            report.add(Status.MISSING, subject)
        elif not any(stage.is_won for stage in pipeline.stages):
            report.add(Status.DIFFERS, subject, "has no closed-won stage (isClosed true, probability 1.0)")
        else:
            won = ", ".join(stage.label for stage in pipeline.stages if stage.is_won)
            report.add(Status.PRESENT, subject, f"id {pipeline.id}, closed won: {won}")


def _verify_sales_assistant(api: PortalApi, contract: PortalContract, report: Report) -> None:
    email = contract.sales_assistant_email
    owner = next((o for o in api.crm.owners() if o.email.lower() == email.lower()), None)
    if owner is None:
        report.add(Status.MISSING, f"owner {email}", "the sales assistant who works the Wake Up pipeline")
    else:
        report.add(Status.PRESENT, f"owner {email}", f"id {owner.id}")


def _provision_eligible_list(api: PortalApi, cold: ColdRules, report: Report) -> None:
    wanted = eligible_list_definition(cold)
    subject = f"company list {cold.eligible_list!r}"
    detail = f"dynamic: {cold.eligible_property} = true"
    existing = api.list_by_name(COMPANY_OBJECT_TYPE_ID, cold.eligible_list)
    if existing is None:
        if report.dry_run:
            report.add(Status.WOULD_CREATE, subject, detail)
        else:
            created = api.create_list(wanted)
            report.add(Status.CREATED, subject, f"id {created.get('listId')}, {detail}")
        return
    difference = _list_difference(existing, cold)
    if difference:
        report.add(Status.DIFFERS, subject, f"{difference}; left unchanged")
    else:
        report.add(Status.PRESENT, subject, f"id {existing.get('listId')}")


def _list_difference(existing: dict[str, Any], cold: ColdRules) -> str | None:
    """What keeps an existing list of that name from being CLIENTI FREDDI: not dynamic, or filters other than
    the one condition `wakeup_eligible` is true (HubSpot may add defaults to what it returns: compared by meaning)."""
    if existing.get("processingType") != "DYNAMIC":
        return f"it is a {existing.get('processingType')} list, not DYNAMIC"
    branch = existing.get("filterBranch") or {}
    children = branch.get("filterBranches") or []
    conditions = [condition for child in children for condition in child.get("filters") or []]
    simple = (
        branch.get("filterBranchType") == "OR"
        and not branch.get("filters")
        and len(children) == 1
        and children[0].get("filterBranchType") == "AND"
        and not children[0].get("filterBranches")
        and len(conditions) == 1
    )
    if not simple or not _is_eligible_condition(conditions[0], cold):
        return f"its filters are not just {cold.eligible_property} = true"
    return None


def _is_eligible_condition(condition: dict[str, Any], cold: ColdRules) -> bool:
    operation = condition.get("operation") or {}
    return (
        condition.get("filterType") == "PROPERTY"
        and condition.get("property") == cold.eligible_property
        and operation.get("operationType") == "BOOL"
        and operation.get("operator") == "IS_EQUAL_TO"
        and operation.get("value") is True
        and not operation.get("includeObjectsWithNoValueSet", False)
    )


def _find_pipeline(pipelines: Sequence[Pipeline], name: str) -> Pipeline | None:
    """By label or id, as flywheel.services.portal resolves it."""
    return next((p for p in pipelines if p.label == name or p.id == name), None)


# --- marketing emails ------------------------------------------------------------------------------------------
#
# One HubSpot marketing email per repo template (flywheel.mail.hubspot_emails), named "flywheel: <template>":
# created when missing, updated when its subject or text differs from the repo's (the repo is the master), left
# alone (no call) when equal. The hubspot mailer finds them by the same names at run time.


class MarketingEmailsApi:
    """HubSpot's Marketing Emails API v3 through hubspot-api-client (`marketing.emails`), with the portal API's
    rate limit and retries."""

    def __init__(self, api: PortalApi) -> None:
        self._api = api

    def ours(self) -> dict[str, Any]:
        """Flywheel's emails (not archived; hubspot-api-client models) by name; the first created wins when a
        name repeats, as the hubspot mailer picks it."""
        emails_api = self._api._hubspot().marketing.emails.marketing_emails_api
        found: dict[str, Any] = {}
        after: str | None = None
        while True:
            options = {"after": after} if after else {}
            page = self._api._call(
                "marketing emails", partial(emails_api.get_page, limit=100, archived=False, **options)
            )
            for email in page.results:
                if template_of(email.name or "") is not None:
                    found.setdefault(email.name, email)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return found

    def create(self, wanted: HubSpotEmail) -> str:
        from hubspot.marketing.emails import EmailCreateRequest

        body = wanted.create_body()
        request = EmailCreateRequest(
            name=body["name"], subject=body["subject"], state=body["state"], content=_content(wanted)
        )
        emails_api = self._api._hubspot().marketing.emails.marketing_emails_api
        created = self._api._call(
            f"create marketing email {wanted.name}",
            lambda: emails_api.create(email_create_request=request),
            repeat_safe=False,
        )
        return str(created.id)

    def update(self, email_id: str, wanted: HubSpotEmail) -> None:
        from hubspot.marketing.emails import EmailUpdateRequest

        request = EmailUpdateRequest(subject=wanted.subject, content=_content(wanted))
        emails_api = self._api._hubspot().marketing.emails.marketing_emails_api
        self._api._call(
            f"update marketing email {wanted.name}",
            lambda: emails_api.update(email_id, email_update_request=request),
        )


def _content(wanted: HubSpotEmail) -> Any:
    from hubspot.marketing.emails import PublicEmailContent

    content = wanted.content()
    return PublicEmailContent(plain_text_version=content["plainTextVersion"], widgets=content["widgets"])


def _difference(existing: Any, wanted: HubSpotEmail) -> str | None:
    content = existing.content
    return wanted.difference(
        existing.subject,
        {"plainTextVersion": content.plain_text_version, "widgets": content.widgets} if content else None,
    )


def provision_marketing_emails(api: MarketingEmailsApi, report: Report) -> None:
    try:
        existing = api.ours()
    except CrmError as error:
        if error.status not in (401, 403):
            raise
        # the rest of the portal is provisioned and reported; only the emails wait for the scope
        report.add(Status.MISSING, "marketing emails", "the token may not read them: give the app the content scope")
        return
    for wanted in hubspot_emails():
        subject = f"marketing email {wanted.name!r}"
        found = existing.get(wanted.name)
        if found is None:
            if report.dry_run:
                report.add(Status.WOULD_CREATE, subject)
            else:
                report.add(Status.CREATED, subject, f"id {api.create(wanted)}")
            continue
        difference = _difference(found, wanted)
        if difference is None:
            report.add(Status.PRESENT, subject, f"id {found.id}")
        elif report.dry_run:
            report.add(Status.WOULD_UPDATE, subject, f"id {found.id}: {difference}")
        else:
            api.update(str(found.id), wanted)
            report.add(Status.UPDATED, subject, f"id {found.id}: {difference}")


# --- command line ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.portal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="report what would be created, create nothing")
    args = parser.parse_args(argv)
    settings = Settings()
    if not settings.hubspot_access_token:
        print("HUBSPOT_ACCESS_TOKEN is not set", file=sys.stderr)
        return 2
    api = PortalApi(
        api_base=settings.hubspot_api_base,
        access_token=settings.hubspot_access_token,
        rate_limit_per_10s=settings.hubspot_rate_limit,
    )
    try:
        report = provision(api, settings.portal, dry_run=args.dry_run, cold=settings.cold)
    except CrmError as error:
        print(f"cannot read the portal: {error}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.ready else 1


if __name__ == "__main__":
    sys.exit(main())
