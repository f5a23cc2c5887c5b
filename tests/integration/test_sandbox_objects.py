"""CRM objects on the sandbox portal, through hubspot-api-client: create, read, list, update, archive, batches."""

from __future__ import annotations

import json
from typing import Any

import hubspot
import pytest
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    SimplePublicObject,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
    SimplePublicObjectWithAssociations,
)
from hubspot.crm.objects.exceptions import ApiException

pytestmark = pytest.mark.sandbox

# Each typed API of the client (companies, contacts, deals) has its own exception and model classes.
ApiError = (ApiException, CompaniesApiException, ContactsApiException, DealsApiException)


def client_for(server: Any) -> hubspot.Client:
    return hubspot.Client.create(access_token=server.token, host=server.url)


def error_body(error: Any) -> dict[str, Any]:
    return dict(json.loads(error.body))


def companies_batch(count: int, prefix: str = "Azienda") -> BatchInputSimplePublicObjectBatchInputForCreate:
    return BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[{"properties": {"name": f"{prefix} {index}", "province": "MI"}} for index in range(count)]
    )


def test_a_created_company_carries_its_properties_and_the_system_timestamps(sandbox: Any) -> None:
    client = client_for(sandbox)

    created = client.crm.objects.basic_api.create(
        "companies",
        SimplePublicObjectInputForCreate(properties={"name": "Rossi Informatica S.r.l.", "dp_level": "gold"}),
    )

    assert isinstance(created, SimplePublicObject)
    assert created.properties["name"] == "Rossi Informatica S.r.l."
    assert created.properties["hs_object_id"] == created.id
    assert created.properties["createdate"].endswith("Z") and "." in created.properties["createdate"]
    assert created.created_at is not None and created.updated_at is not None
    fetched = client.crm.objects.basic_api.get_by_id("companies", created.id, properties=["dp_level"])
    assert isinstance(fetched, SimplePublicObjectWithAssociations)
    assert fetched.properties["dp_level"] == "gold"
    assert "name" not in fetched.properties  # only what was asked for, plus the system properties


def test_a_read_without_properties_returns_hubspots_default_set(sandbox: Any) -> None:
    client = client_for(sandbox)
    created = client.crm.objects.basic_api.create(
        "companies", SimplePublicObjectInputForCreate(properties={"name": "Bianchi", "dp_level": "gold"})
    )

    fetched = client.crm.objects.basic_api.get_by_id("companies", created.id)

    assert set(fetched.properties) == {"name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"}
    assert fetched.properties["domain"] is None


def test_values_are_stored_as_hubspot_text_dates_and_datetimes(sandbox: Any) -> None:
    client = client_for(sandbox)

    company = client.crm.objects.basic_api.create(
        "companies", SimplePublicObjectInputForCreate(properties={"name": "Date", "last_purchase_date": "2026-03-31"})
    )
    deal = client.crm.objects.basic_api.create(
        "deals",
        SimplePublicObjectInputForCreate(
            properties={"dealname": "Ordine", "amount": 1250.5, "closedate": 1774915200000}
        ),
    )

    assert company.properties["last_purchase_date"] == "2026-03-31"
    assert deal.properties["amount"] == "1250.5"
    assert deal.properties["closedate"] == "2026-03-31T00:00:00.000Z"


def test_an_unknown_property_is_refused_like_hubspot_and_nothing_is_created(sandbox: Any) -> None:
    client = client_for(sandbox)

    with pytest.raises(ApiError) as refused:
        client.crm.objects.basic_api.create(
            "companies", SimplePublicObjectInputForCreate(properties={"name": "X", "no_such_property": "1"})
        )

    assert refused.value.status == 400
    assert "PROPERTY_DOESNT_EXIST" in error_body(refused.value)["message"]
    assert sandbox.store.counts()["companies"] == 0


def test_a_value_outside_an_enumeration_is_refused(sandbox: Any) -> None:
    client = client_for(sandbox)

    with pytest.raises(ApiError) as refused:
        client.crm.objects.basic_api.create(
            "companies", SimplePublicObjectInputForCreate(properties={"dp_level": "platinum"})
        )

    assert refused.value.status == 400
    assert "INVALID_OPTION" in error_body(refused.value)["message"]


def test_an_unknown_id_is_404_on_read_update_and_archive(sandbox: Any) -> None:
    api = client_for(sandbox).crm.companies.basic_api

    for call in (
        lambda: api.get_by_id("999999"),
        lambda: api.update("999999", SimplePublicObjectInput(properties={"name": "X"})),
        lambda: api.archive("999999"),
    ):
        with pytest.raises(ApiError) as missing:
            call()
        assert missing.value.status == 404
        assert error_body(missing.value)["category"] == "OBJECT_NOT_FOUND"


def test_an_update_changes_the_value_and_the_modification_date(sandbox: Any) -> None:
    api = client_for(sandbox).crm.companies.basic_api
    created = api.create(SimplePublicObjectInputForCreate(properties={"name": "Verdi", "sirank": "10"}))

    updated = api.update(created.id, SimplePublicObjectInput(properties={"sirank": "4200"}))

    assert type(updated).__name__ == "SimplePublicObject"
    assert updated.properties["sirank"] == "4200"
    assert updated.properties["hs_lastmodifieddate"] >= created.properties["hs_lastmodifieddate"]
    assert sandbox.store.get_properties("companies", created.id)["sirank"] == "4200"


def test_an_archived_record_is_gone_from_reads_and_listed_only_with_archived_true(sandbox: Any) -> None:
    api = client_for(sandbox).crm.companies.basic_api
    kept = sandbox.store.create_object("companies", {"name": "Resta"})
    archived = sandbox.store.create_object("companies", {"name": "Archiviata"})

    api.archive(archived)

    with pytest.raises(ApiError) as missing:
        api.get_by_id(archived)
    assert missing.value.status == 404
    assert [record.id for record in api.get_page(limit=100).results] == [kept]
    listed = api.get_page(limit=100, archived=True).results
    assert [record.id for record in listed] == [archived]
    assert listed[0].archived is True


def test_a_list_pages_by_100_with_a_cursor_and_refuses_a_bigger_page(sandbox: Any) -> None:
    api = client_for(sandbox).crm.companies.basic_api
    created = [sandbox.store.create_object("companies", {"name": f"C{index}"}) for index in range(150)]

    first = api.get_page(limit=100, properties=["name"])
    second = api.get_page(limit=100, after=first.paging.next.after, properties=["name"])

    assert type(first).__name__ == "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"
    assert [record.id for record in first.results + second.results] == created
    assert second.paging is None
    with pytest.raises(ApiError) as too_big:
        api.get_page(limit=101)
    assert too_big.value.status == 400


def test_companies_and_deals_are_batch_created_by_100_and_a_batch_of_101_is_refused(sandbox: Any) -> None:
    client = client_for(sandbox)

    companies = client.crm.objects.batch_api.create("companies", companies_batch(100))
    deals = client.crm.objects.batch_api.create(
        "deals",
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"dealname": f"Ordine {index}", "amount": "100"}} for index in range(100)]
        ),
    )
    with pytest.raises(ApiError) as refused:
        client.crm.objects.batch_api.create("companies", companies_batch(101, "Troppe"))

    assert isinstance(companies, BatchResponseSimplePublicObject) and companies.status == "COMPLETE"
    assert len(companies.results) == 100 and len(deals.results) == 100
    assert refused.value.status == 400
    assert sandbox.store.counts()["companies"] == 100


def test_a_batch_read_with_a_missing_id_answers_207_with_the_records_found(sandbox: Any) -> None:
    client = client_for(sandbox)
    first = sandbox.store.create_object("companies", {"name": "Uno"})
    second = sandbox.store.create_object("companies", {"name": "Due"})

    response = client.crm.objects.batch_api.read(
        "companies",
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": first}, {"id": "424242"}, {"id": second}], properties=["name"], properties_with_history=[]
        ),
    )

    assert isinstance(response, BatchResponseSimplePublicObjectWithErrors)
    assert sorted(record.properties["name"] for record in response.results) == ["Due", "Uno"]
    assert response.num_errors == 1
    assert response.errors[0].category == "OBJECT_NOT_FOUND"
    assert response.errors[0].context == {"ids": ["424242"]}


def test_a_batch_read_by_a_unique_property_finds_records_by_value(sandbox: Any) -> None:
    client = client_for(sandbox)
    contact = sandbox.store.create_object("contacts", {"email": "anna@example.it", "firstname": "Anna"})

    response = client.crm.objects.batch_api.read(
        "contacts",
        BatchReadInputSimplePublicObjectId(
            id_property="email",
            inputs=[{"id": "anna@example.it"}],
            properties=["firstname"],
            properties_with_history=[],
        ),
    )

    assert [(record.id, record.properties["firstname"]) for record in response.results] == [(contact, "Anna")]


def test_a_batch_update_with_a_missing_id_updates_the_others_and_answers_207(sandbox: Any) -> None:
    client = client_for(sandbox)
    company = sandbox.store.create_object("companies", {"name": "Neri", "sirank": "1"})

    response = client.crm.objects.batch_api.update(
        "companies",
        BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": company, "properties": {"sirank": "77"}}, {"id": "987654", "properties": {"sirank": "1"}}]
        ),
    )

    assert isinstance(response, BatchResponseSimplePublicObjectWithErrors)
    assert [record.id for record in response.results] == [company]
    assert response.errors[0].context == {"ids": ["987654"]}
    assert sandbox.store.get_properties("companies", company)["sirank"] == "77"


def test_a_batch_upsert_by_email_creates_then_updates(sandbox: Any) -> None:
    api = client_for(sandbox).crm.contacts.batch_api

    def upsert(first_name: str) -> BatchResponseSimplePublicUpsertObject:
        return api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[{"id": "luca@example.it", "idProperty": "email", "properties": {"firstname": first_name}}]
            )
        )

    created = upsert("Luca")
    updated = upsert("Luca Maria")

    assert created.results[0].new is True and updated.results[0].new is False
    assert created.results[0].id == updated.results[0].id
    properties = sandbox.store.get_properties("contacts", created.results[0].id)
    assert (properties["email"], properties["firstname"]) == ("luca@example.it", "Luca Maria")


def test_a_batch_archive_archives_every_listed_record(sandbox: Any) -> None:
    client = client_for(sandbox)
    ids = [sandbox.store.create_object("deals", {"dealname": f"D{index}"}) for index in range(3)]

    client.crm.objects.batch_api.archive(
        "deals", BatchInputSimplePublicObjectId(inputs=[{"id": ids[0]}, {"id": ids[2]}])
    )

    assert [record.id for record in client.crm.objects.basic_api.get_page("deals", limit=10).results] == [ids[1]]


def test_the_generated_portal_is_served_and_reset_restores_it(sandbox_factory: Any) -> None:
    server = sandbox_factory(companies=12, seed=7)
    api = client_for(server).crm.companies.basic_api
    generated = server.store.counts()
    first = api.get_page(limit=5, properties=["name", "customer_category", "province"]).results[0]

    api.archive(first.id)
    server.store.create_object("companies", {"name": "Nuova"})
    server.store.reset()

    assert generated["companies"] == 12 and generated["contacts"] >= 12
    assert first.properties["customer_category"] and first.properties["province"]
    assert server.store.counts() == generated
    assert api.get_by_id(first.id).id == first.id
