"""The portal schema endpoints (owners, pipelines, properties, groups) and single-send, through hubspot-api-client."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import hubspot
import pytest
from hubspot.crm.objects import SimplePublicObjectInputForCreate
from hubspot.crm.owners import CollectionResponsePublicOwnerForwardPaging, PublicOwner
from hubspot.crm.pipelines import CollectionResponsePipelineNoPaging, Pipeline
from hubspot.crm.pipelines.exceptions import ApiException as PipelinesApiException
from hubspot.crm.properties import (
    CollectionResponsePropertyGroupNoPaging,
    CollectionResponsePropertyNoPaging,
    ModelProperty,
    PropertyCreate,
    PropertyGroup,
    PropertyGroupCreate,
)
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.marketing.transactional import EmailSendStatusView, PublicSingleSendRequestEgg

pytestmark = pytest.mark.sandbox


def client_for(server: Any) -> hubspot.Client:
    return hubspot.Client.create(access_token=server.token, host=server.url)


def test_owners_are_paged_and_found_by_email_and_id(sandbox: Any) -> None:
    owners_api = client_for(sandbox).crm.owners.owners_api

    first = owners_api.get_page(limit=10)
    rest = owners_api.get_page(limit=100, after=first.paging.next.after)
    everyone = first.results + rest.results
    by_email = owners_api.get_page(email=everyone[3].email)
    by_id = owners_api.get_by_id(int(everyone[3].id))

    assert isinstance(first, CollectionResponsePublicOwnerForwardPaging)
    assert len(everyone) >= 15
    assert len({owner.id for owner in everyone}) == len(everyone)
    assert [owner.id for owner in by_email.results] == [everyone[3].id]
    assert isinstance(by_id, PublicOwner) and by_id.email == everyone[3].email


def test_deal_pipelines_carry_stage_metadata(sandbox: Any) -> None:
    pipelines_api = client_for(sandbox).crm.pipelines.pipelines_api

    pipelines = pipelines_api.get_all("deals")
    wake_up = next(pipeline for pipeline in pipelines.results if pipeline.label == "Wake Up Pipeline")
    fetched = pipelines_api.get_by_id("deals", wake_up.id)

    assert isinstance(pipelines, CollectionResponsePipelineNoPaging)
    assert isinstance(fetched, Pipeline) and fetched.id == wake_up.id
    won = next(stage for stage in fetched.stages if stage.label == "Riattivato")
    assert won.metadata["isClosed"] == "true"
    assert float(won.metadata["probability"]) == 1.0
    with pytest.raises(PipelinesApiException) as missing:
        pipelines_api.get_by_id("deals", "no-such-pipeline")
    assert missing.value.status == 404


def test_properties_are_listed_read_and_created_and_a_new_one_is_writable(sandbox: Any) -> None:
    client = client_for(sandbox)
    core = client.crm.properties.core_api

    listed = core.get_all("companies")
    sirank = core.get_by_name("companies", "sirank")
    created = core.create(
        "companies",
        PropertyCreate(
            name="flywheel_test_score",
            label="Punteggio di prova",
            type="number",
            field_type="number",
            group_name=sirank.group_name,
        ),
    )
    company = client.crm.objects.basic_api.create(
        "companies", SimplePublicObjectInputForCreate(properties={"flywheel_test_score": "7"})
    )

    assert isinstance(listed, CollectionResponsePropertyNoPaging)
    assert {"customer_category", "province", "dp_level", "sirank"} <= {prop.name for prop in listed.results}
    assert isinstance(sirank, ModelProperty) and sirank.type == "number"
    assert isinstance(created, ModelProperty) and created.name == "flywheel_test_score"
    assert company.properties["flywheel_test_score"] == "7"
    with pytest.raises(PropertiesApiException) as duplicate:
        core.create(
            "companies",
            PropertyCreate(
                name="flywheel_test_score", label="Doppio", type="number", field_type="number", group_name="x"
            ),
        )
    assert duplicate.value.status == 409
    with pytest.raises(PropertiesApiException) as unknown:
        core.get_by_name("companies", "no_such_property")
    assert unknown.value.status == 404


def test_property_groups_are_listed_and_created(sandbox: Any) -> None:
    groups_api = client_for(sandbox).crm.properties.groups_api

    before = groups_api.get_all("deals")
    created = groups_api.create("deals", PropertyGroupCreate(name="flywheel_prova", label="Prova"))
    after = groups_api.get_all("deals")

    assert isinstance(before, CollectionResponsePropertyGroupNoPaging)
    assert isinstance(created, PropertyGroup) and created.name == "flywheel_prova"
    assert [group.name for group in after.results] == [group.name for group in before.results] + ["flywheel_prova"]


def test_single_send_records_the_message_in_the_outbox_once_per_send_id(sandbox: Any) -> None:
    client = client_for(sandbox)
    body = {
        "emailId": 4242,
        "message": {"to": "cliente@example.it", "sendId": "nurture:123:1"},
        "contactProperties": {"firstname": "Anna"},
        "customProperties": {"coupon": "ABC"},
    }

    first = client.api_request(
        {"method": "POST", "path": "/marketing/v4/email/single-send", "body": body, "base_url": sandbox.url}
    )
    repeated = client.api_request(
        {"method": "POST", "path": "/marketing/v4/email/single-send", "body": body, "base_url": sandbox.url}
    )
    outbox = json.loads(urllib.request.urlopen(sandbox.url + "/_sandbox/outbox", timeout=10).read())["results"]

    assert first.status_code == 200 and first.json()["status"] == "COMPLETE"
    assert repeated.json()["sendResult"] == "IDEMPOTENT_IGNORE"
    assert len(outbox) == 1
    assert outbox[0]["message"]["to"] == "cliente@example.it"
    assert outbox[0]["customProperties"] == {"coupon": "ABC"}


def test_the_v3_transactional_single_send_answers_the_clients_model(sandbox: Any) -> None:
    api = client_for(sandbox).marketing.transactional.single_send_api

    status = api.send_email(PublicSingleSendRequestEgg(email_id=7, message={"to": "b@example.it"}))

    assert isinstance(status, EmailSendStatusView)
    assert status.send_result == "SENT"
    assert sandbox.store.outbox()[0]["emailId"] == 7


def test_single_send_without_a_recipient_is_refused(sandbox: Any) -> None:
    client = client_for(sandbox)

    answer = client.api_request(
        {
            "method": "POST",
            "path": "/marketing/v4/email/single-send",
            "body": {"emailId": 1, "message": {}},
            "base_url": sandbox.url,
        }
    )

    assert answer.status_code == 400
    assert sandbox.store.outbox() == []
