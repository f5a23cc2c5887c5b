"""The sandbox's Lists API v3, through hubspot-api-client over HTTP: definitions, and the members of a dynamic
list evaluated from its property filters on the portal's records as they change."""

from __future__ import annotations

import json
from typing import Any

import hubspot
import pytest
from hubspot.crm.lists.exceptions import ApiException

pytestmark = pytest.mark.sandbox


def client_for(server: Any) -> hubspot.Client:
    return hubspot.Client.create(access_token=server.token, host=server.url)


def bool_list(name: str, prop: str = "wakeup_eligible", **operation: Any) -> dict[str, Any]:
    return property_list(name, prop, {"operationType": "BOOL", "operator": "IS_EQUAL_TO", "value": True, **operation})


def property_list(name: str, prop: str, operation: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "objectTypeId": "0-2",
        "processingType": "DYNAMIC",
        "filterBranch": {
            "filterBranchType": "OR",
            "filterBranchOperator": "OR",
            "filters": [],
            "filterBranches": [
                {
                    "filterBranchType": "AND",
                    "filterBranchOperator": "AND",
                    "filterBranches": [],
                    "filters": [{"filterType": "PROPERTY", "property": prop, "operation": operation}],
                }
            ],
        },
    }


def members(client: hubspot.Client, list_id: str, *, limit: int = 100) -> list[str]:
    """Every member, page by page, as a client reads them."""
    found: list[str] = []
    after = None
    while True:
        options = {"limit": limit, **({"after": after} if after else {})}
        page = client.crm.lists.memberships_api.get_page(list_id, **options)
        found += [result.record_id for result in page.results]
        if page.paging is None or page.paging.next is None:
            return found
        after = page.paging.next.after


def company(server: Any, name: str, **properties: str) -> str:
    company_id: str = server.store.create_object("companies", {"name": name, **properties})
    return company_id


def created_list(client: hubspot.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.crm.lists.lists_api.create(body, _preload_content=False)
    found: dict[str, Any] = json.loads(response.data)["list"]
    return found


def test_a_dynamic_list_holds_exactly_the_companies_whose_property_passes_its_filter(sandbox: Any) -> None:
    client = client_for(sandbox)
    yes = company(sandbox, "Fredda", wakeup_eligible="true")
    no = company(sandbox, "Attiva", wakeup_eligible="false")
    unset = company(sandbox, "Nuova")

    made = created_list(client, bool_list("Freddi di prova"))

    assert made["processingType"] == "DYNAMIC" and made["size"] == 1
    assert members(client, made["listId"]) == [yes]
    sandbox.store.update_object("companies", unset, {"wakeup_eligible": "true"})
    sandbox.store.update_object("companies", yes, {"wakeup_eligible": "false"})
    assert members(client, made["listId"]) == [unset]
    sandbox.store.update_object("companies", no, {"wakeup_eligible": "true"})
    sandbox.store.archive_object("companies", unset)
    assert members(client, made["listId"]) == [no]


def test_a_list_is_found_by_name_whatever_the_case_and_an_unknown_name_is_404(sandbox: Any) -> None:
    client = client_for(sandbox)
    made = created_list(client, bool_list("Clienti da Richiamare"))

    found = client.crm.lists.lists_api.get_by_name("clienti da richiamare", "0-2")

    assert found.list.list_id == made["listId"] and found.list.processing_type == "DYNAMIC"
    with pytest.raises(ApiException) as missing:
        client.crm.lists.lists_api.get_by_name("Nessuna lista", "0-2")
    assert missing.value.status == 404


def test_memberships_come_in_pages_in_record_id_order(sandbox: Any) -> None:
    client = client_for(sandbox)
    ids = [company(sandbox, f"Azienda {n}", wakeup_eligible="true") for n in range(7)]
    made = created_list(client, bool_list("Paginata"))

    first = client.crm.lists.memberships_api.get_page(made["listId"], limit=3)

    assert [r.record_id for r in first.results] == sorted(ids, key=int)[:3]
    assert first.results[0].membership_timestamp is not None
    assert members(client, made["listId"], limit=3) == sorted(ids, key=int)


def test_a_companys_lists_are_those_whose_filters_it_passes(sandbox: Any) -> None:
    client = client_for(sandbox)
    cold = company(sandbox, "Fredda", wakeup_eligible="true", retention_segment="cold")
    made = created_list(client, bool_list("Freddi"))
    segment = created_list(
        client,
        property_list(
            "Tiepidi",
            "retention_segment",
            {"operationType": "ENUMERATION", "operator": "IS_ANY_OF", "values": ["lukewarm"]},
        ),
    )

    answer = client.crm.lists.memberships_api.get_lists("0-2", cold)

    freddi = client.crm.lists.lists_api.get_by_name("CLIENTI FREDDI", "0-2").list.list_id  # the provisioned one
    assert sorted(r.list_id for r in answer.results) == sorted([freddi, made["listId"]])
    assert segment["listId"] not in {r.list_id for r in answer.results} and segment["size"] == 0


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ({"operationType": "NUMBER", "operator": "IS_GREATER_THAN", "value": 5000}, ["high"]),
        ({"operationType": "NUMBER", "operator": "IS_LESS_THAN_OR_EQUAL_TO", "value": 5000}, ["edge"]),
        ({"operationType": "ALL_PROPERTY", "operator": "IS_UNKNOWN"}, ["none"]),
        ({"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN"}, ["edge", "high"]),
    ],
)
def test_number_and_known_filters(sandbox: Any, operation: dict[str, Any], expected: list[str]) -> None:
    client = client_for(sandbox)
    names = {
        company(sandbox, "high", sirank="9000"): "high",
        company(sandbox, "edge", sirank="5000"): "edge",
        company(sandbox, "none"): "none",
    }
    made = created_list(client, property_list("Per valore", "sirank", operation))
    assert sorted(names[m] for m in members(client, made["listId"])) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (bool_list("X", prop="non_esiste"), "Property 'non_esiste' does not exist"),
        (
            property_list("X", "name", {"operationType": "STRING", "operator": "CONTAINS", "value": "a"}),
            "not supported by the sandbox",
        ),
        ({**bool_list("X"), "filterBranch": {"filterBranchType": "AND", "filters": []}}, "root filter branch"),
        ({**bool_list("X"), "processingType": "SOMETIMES"}, "processingType"),
    ],
)
def test_a_list_the_sandbox_cannot_evaluate_is_refused_with_400(
    sandbox: Any, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiException) as refused:
        created_list(client_for(sandbox), body)
    assert refused.value.status == 400 and message in str(refused.value.body)


def test_two_lists_of_one_name_are_a_conflict(sandbox: Any) -> None:
    client = client_for(sandbox)
    created_list(client, bool_list("Unica"))
    with pytest.raises(ApiException) as conflict:
        created_list(client, bool_list("UNICA"))
    assert conflict.value.status == 409


def test_a_provisioned_portal_has_clienti_freddi_and_a_bare_one_has_no_lists(sandbox_factory: Any) -> None:
    provisioned, bare = sandbox_factory(), sandbox_factory(provisioned=False)
    found = client_for(provisioned).crm.lists.lists_api.get_by_name("CLIENTI FREDDI", "0-2")
    assert found.list.processing_type == "DYNAMIC"
    with pytest.raises(ApiException):
        client_for(bare).crm.lists.lists_api.get_by_name("CLIENTI FREDDI", "0-2")
