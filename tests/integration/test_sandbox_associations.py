"""Associations on the sandbox portal through hubspot-api-client: v4 batch and single endpoints, v3 reads."""

from __future__ import annotations

from typing import Any

import hubspot
import pytest
from hubspot.crm.associations.v4 import (
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponseLabelsBetweenObjectPair,
    BatchResponseLabelsBetweenObjectPairWithErrors,
    BatchResponsePublicAssociationMultiWithLabel,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
    BatchResponsePublicDefaultAssociation,
    CollectionResponseMultiAssociatedObjectWithLabelForwardPaging,
)
from hubspot.crm.associations.v4.exceptions import ApiException
from hubspot.crm.objects import SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException

pytestmark = pytest.mark.sandbox

DEAL_TO_COMPANY = 341
COMPANY_TO_DEAL = 342


def client_for(server: Any) -> hubspot.Client:
    return hubspot.Client.create(access_token=server.token, host=server.url)


def test_default_associations_are_batch_created_by_100_and_read_from_both_sides(sandbox: Any) -> None:
    client = client_for(sandbox)
    companies = [sandbox.store.create_object("companies", {"name": f"C{index}"}) for index in range(100)]
    deals = [sandbox.store.create_object("deals", {"dealname": f"D{index}"}) for index in range(100)]

    created = client.crm.associations.v4.batch_api.create_default(
        "deals",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                {"from": {"id": deal}, "to": {"id": company}} for deal, company in zip(deals, companies, strict=True)
            ]
        ),
    )
    from_companies = client.crm.associations.v4.batch_api.get_page(
        "companies",
        "deals",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": company} for company in companies]),
    )

    assert isinstance(created, BatchResponsePublicDefaultAssociation)
    assert {result.association_spec.association_type_id for result in created.results} == {
        DEAL_TO_COMPANY,
        COMPANY_TO_DEAL,
    }
    assert isinstance(from_companies, BatchResponsePublicAssociationMultiWithLabel)
    pairs = {(result._from.id, target.to_object_id) for result in from_companies.results for target in result.to}
    assert pairs == set(zip(companies, deals, strict=True))
    assert all(
        target.association_types[0].type_id == COMPANY_TO_DEAL
        for result in from_companies.results
        for target in result.to
    )


def test_a_batch_of_101_associations_is_refused(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})
    deal = sandbox.store.create_object("deals", {"dealname": "D"})

    with pytest.raises(ApiException) as refused:
        client.crm.associations.v4.batch_api.create_default(
            "deals",
            "companies",
            BatchInputPublicDefaultAssociationMultiPost(inputs=[{"from": {"id": deal}, "to": {"id": company}}] * 101),
        )

    assert refused.value.status == 400
    assert sandbox.store.associated_ids("deals", deal, "companies") == []


def test_labelled_batch_create_links_records_and_reports_missing_ones_with_207(sandbox: Any) -> None:
    client = client_for(sandbox)
    contact = sandbox.store.create_object("contacts", {"email": "a@example.it"})
    company = sandbox.store.create_object("companies", {"name": "C"})
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]

    complete = client.crm.associations.v4.batch_api.create(
        "contacts",
        "companies",
        BatchInputPublicAssociationMultiPost(inputs=[{"from": {"id": contact}, "to": {"id": company}, "types": spec}]),
    )
    partial = client.crm.associations.v4.batch_api.create(
        "contacts",
        "companies",
        BatchInputPublicAssociationMultiPost(inputs=[{"from": {"id": contact}, "to": {"id": "55555"}, "types": spec}]),
    )

    assert isinstance(complete, BatchResponseLabelsBetweenObjectPair)
    assert (complete.results[0].from_object_id, complete.results[0].to_object_id) == (contact, company)
    assert complete.results[0].to_object_type_id == "0-2"
    assert isinstance(partial, BatchResponseLabelsBetweenObjectPairWithErrors)
    assert partial.num_errors == 1
    assert sandbox.store.associated_ids("companies", company, "contacts") == [contact]


def test_a_record_without_associations_is_reported_in_the_errors_of_a_batch_read(sandbox: Any) -> None:
    client = client_for(sandbox)
    lonely = sandbox.store.create_object("companies", {"name": "Sola"})

    response = client.crm.associations.v4.batch_api.get_page(
        "companies", "deals", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": lonely}])
    )

    assert isinstance(response, BatchResponsePublicAssociationMultiWithLabelWithErrors)
    assert response.results == [] and response.num_errors == 1


def test_a_single_default_association_and_the_list_of_a_records_associations(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})
    tasks = [sandbox.store.create_object("tasks", {"hs_task_subject": f"T{index}"}) for index in range(3)]

    for task in tasks:
        answer = client.crm.associations.v4.basic_api.create_default("tasks", task, "companies", company)
        assert isinstance(answer, BatchResponsePublicDefaultAssociation)
    listed = client.crm.associations.v4.basic_api.get_page("companies", company, "tasks", limit=2)
    rest = client.crm.associations.v4.basic_api.get_page("companies", company, "tasks", after=listed.paging.next.after)

    assert isinstance(listed, CollectionResponseMultiAssociatedObjectWithLabelForwardPaging)
    assert [item.to_object_id for item in listed.results + rest.results] == tasks
    assert listed.results[0].association_types[0].type_id == 191


@pytest.mark.parametrize(
    ("from_type", "from_properties", "to_type", "to_properties", "forward", "inverse"),
    [
        # HubSpot's documented ids (v4 associations guide, association type IDs)
        ("carts", {"hs_cart_name": "Carrello"}, "contacts", {"email": "a@example.it"}, 586, 587),
        ("carts", {"hs_cart_name": "Carrello"}, "deals", {"dealname": "D"}, 1347, 1346),
        ("carts", {"hs_cart_name": "Carrello"}, "line_items", {"name": "SSD"}, 590, 591),
        ("calls", {"hs_call_title": "Chiamata"}, "contacts", {"email": "a@example.it"}, 194, 193),
        ("meetings", {"hs_meeting_title": "Incontro"}, "deals", {"dealname": "D"}, 212, 211),
    ],
)
def test_a_default_association_carries_hubspot_s_documented_type_ids_both_ways(
    sandbox: Any,
    from_type: str,
    from_properties: dict[str, str],
    to_type: str,
    to_properties: dict[str, str],
    forward: int,
    inverse: int,
) -> None:
    client = client_for(sandbox)
    source = sandbox.store.create_object(from_type, from_properties)
    target = sandbox.store.create_object(to_type, to_properties)

    answer = client.crm.associations.v4.basic_api.create_default(from_type, source, to_type, target)

    assert {result.association_spec.association_type_id for result in answer.results} == {forward, inverse}
    assert sandbox.store.links_of(from_type, source, to_type) == {target: [forward]}
    assert sandbox.store.links_of(to_type, target, from_type) == {source: [inverse]}


def test_carts_and_companies_have_a_sandbox_default_outside_hubspot_s_ids(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})
    cart = sandbox.store.create_object("carts", {"hs_cart_name": "Carrello"}, [("companies", company)])

    listed = client.crm.associations.v4.basic_api.get_page("companies", company, "carts")

    assert [item.to_object_id for item in listed.results] == [cart]
    assert listed.results[0].association_types[0].type_id == 90_002


def test_a_default_association_to_an_unknown_record_is_404(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})

    with pytest.raises(ApiException) as missing:
        client.crm.associations.v4.basic_api.create_default("deals", "31337", "companies", company)

    assert missing.value.status == 404


def test_associations_given_on_create_are_read_back_through_v3(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "Cliente"})

    deal = client.crm.objects.basic_api.create(
        "deals",
        SimplePublicObjectInputForCreate(
            properties={"dealname": "Ordine"},
            associations=[
                {
                    "to": {"id": company},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEAL_TO_COMPANY}],
                }
            ],
        ),
    )
    read = client.crm.objects.basic_api.get_by_id("deals", deal.id, associations=["companies"])
    listed = client.crm.objects.basic_api.get_page("companies", associations=["deals"])

    assert [(item.id, item.type) for item in read.associations["companies"].results] == [
        (company, "deal_to_company_unlabeled")
    ]
    assert [item.id for item in listed.results[0].associations["deals"].results] == [deal.id]


def test_an_association_on_create_to_a_missing_record_refuses_the_create(sandbox: Any) -> None:
    client = client_for(sandbox)
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEAL_TO_COMPANY}]

    with pytest.raises(ObjectsApiException) as refused:
        client.crm.objects.basic_api.create(
            "deals",
            SimplePublicObjectInputForCreate(
                properties={"dealname": "Orfano"}, associations=[{"to": {"id": "777"}, "types": spec}]
            ),
        )

    assert refused.value.status == 400
    assert sandbox.store.counts()["deals"] == 0


def test_archived_records_drop_out_of_association_reads(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})
    kept = sandbox.store.create_object("deals", {"dealname": "Resta"}, [("companies", company)])
    gone = sandbox.store.create_object("deals", {"dealname": "Via"}, [("companies", company)])

    sandbox.store.archive_object("deals", gone)
    listed = client.crm.associations.v4.basic_api.get_page("companies", company, "deals")

    assert [item.to_object_id for item in listed.results] == [kept]


def test_a_labelled_single_association_is_created_and_removed(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})
    deal = sandbox.store.create_object("deals", {"dealname": "D"})

    created = client.crm.associations.v4.basic_api.create(
        "deals", deal, "companies", company, [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]
    )
    primary_from_company = sandbox.store.links_of("companies", company, "deals")
    client.crm.associations.v4.basic_api.archive("deals", deal, "companies", company)

    assert type(created).__name__ == "LabelsBetweenObjectPair"
    assert primary_from_company == {deal: [6]}  # the primary label read from the other side
    assert sandbox.store.associated_ids("companies", company, "deals") == []


def test_a_batch_archive_of_associations_removes_both_directions(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "C"})
    contacts = [
        sandbox.store.create_object("contacts", {"firstname": f"P{index}"}, [("companies", company)])
        for index in range(3)
    ]

    client.crm.associations.v4.batch_api.archive(
        "companies",
        "contacts",
        BatchInputPublicAssociationMultiArchive(
            inputs=[{"from": {"id": company}, "to": [{"id": contacts[0]}, {"id": contacts[2]}]}]
        ),
    )

    assert sandbox.store.associated_ids("companies", company, "contacts") == [contacts[1]]
    assert sandbox.store.associated_ids("contacts", contacts[0], "companies") == []
