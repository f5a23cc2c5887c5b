"""CRM search on the sandbox portal: operators, groups, sorts, paging, limits, eventual consistency, archived."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import hubspot
import pytest
from hubspot.crm.objects import (
    CollectionResponseWithTotalSimplePublicObjectForwardPaging,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.exceptions import ApiException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.store import PortalStore

pytestmark = pytest.mark.sandbox


def search(server: Any, object_type: str, **request: Any) -> CollectionResponseWithTotalSimplePublicObjectForwardPaging:
    client = hubspot.Client.create(access_token=server.token, host=server.url)
    return client.crm.objects.search_api.do_search(object_type, PublicObjectSearchRequest(**request))


def one_group(*filters: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"filters": list(filters)}]


def ids_of(response: Any) -> list[str]:
    return [record.id for record in response.results]


@pytest.fixture
def deals(sandbox: Any) -> dict[str, str]:
    """Four deals with amounts, close dates and names; returns name -> id."""
    store = sandbox.store
    return {
        "piccolo": store.create_object(
            "deals", {"dealname": "Ordine piccolo", "amount": "90", "closedate": "2026-01-10T09:00:00Z"}
        ),
        "medio": store.create_object(
            "deals", {"dealname": "Ordine medio notebook", "amount": "1500", "closedate": "2026-02-15T09:00:00Z"}
        ),
        "grande": store.create_object(
            "deals", {"dealname": "Ordine grande server", "amount": "12000", "closedate": "2026-03-20T09:00:00Z"}
        ),
        "senza": store.create_object("deals", {"dealname": "Senza importo"}),
    }


def test_numbers_compare_numerically_not_as_text(sandbox: Any, deals: dict[str, str]) -> None:
    found = search(
        sandbox, "deals", filter_groups=one_group({"propertyName": "amount", "operator": "GT", "value": "1000"})
    )

    assert isinstance(found, CollectionResponseWithTotalSimplePublicObjectForwardPaging)
    assert sorted(ids_of(found)) == sorted([deals["medio"], deals["grande"]])
    assert found.total == 2


def test_datetimes_compare_as_instants_given_as_iso_or_epoch_ms(sandbox: Any, deals: dict[str, str]) -> None:
    low = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)

    by_epoch = search(
        sandbox,
        "deals",
        filter_groups=one_group(
            {"propertyName": "closedate", "operator": "BETWEEN", "value": str(low), "highValue": "2026-03-01"}
        ),
    )
    by_iso = search(
        sandbox,
        "deals",
        filter_groups=one_group({"propertyName": "closedate", "operator": "LT", "value": "2026-02-01"}),
    )

    assert ids_of(by_epoch) == [deals["medio"]]
    assert ids_of(by_iso) == [deals["piccolo"]]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"propertyName": "amount", "operator": "HAS_PROPERTY"}, ["piccolo", "medio", "grande"]),
        ({"propertyName": "amount", "operator": "NOT_HAS_PROPERTY"}, ["senza"]),
        ({"propertyName": "amount", "operator": "IN", "values": ["90", "12000"]}, ["piccolo", "grande"]),
        ({"propertyName": "amount", "operator": "NOT_IN", "values": ["90", "12000"]}, ["medio", "senza"]),
        ({"propertyName": "amount", "operator": "NEQ", "value": "90"}, ["medio", "grande", "senza"]),
        ({"propertyName": "amount", "operator": "LTE", "value": "1500"}, ["piccolo", "medio"]),
        ({"propertyName": "amount", "operator": "GTE", "value": "1500"}, ["medio", "grande"]),
        ({"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "notebook"}, ["medio"]),
        ({"propertyName": "dealname", "operator": "EQ", "value": "ordine PICCOLO"}, ["piccolo"]),
    ],
)
def test_each_operator_selects_the_deals_it_describes(
    sandbox: Any, deals: dict[str, str], spec: dict[str, Any], expected: list[str]
) -> None:
    found = search(sandbox, "deals", filter_groups=one_group(spec))

    assert sorted(ids_of(found)) == sorted(deals[name] for name in expected)


def test_filter_groups_are_ored_and_filters_within_a_group_anded(sandbox: Any, deals: dict[str, str]) -> None:
    found = search(
        sandbox,
        "deals",
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "amount", "operator": "GT", "value": "100"},
                    {"propertyName": "closedate", "operator": "LT", "value": "2026-03-01"},
                ]
            },
            {"filters": [{"propertyName": "dealname", "operator": "EQ", "value": "Senza importo"}]},
        ],
    )

    assert sorted(ids_of(found)) == sorted([deals["medio"], deals["senza"]])


def test_sorts_order_results_and_records_without_the_value_come_last(sandbox: Any, deals: dict[str, str]) -> None:
    found = search(
        sandbox,
        "deals",
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
        properties=["amount"],
    )

    assert ids_of(found) == [deals["grande"], deals["medio"], deals["piccolo"], deals["senza"]]
    assert found.results[0].properties["amount"] == "12000"
    assert "dealname" not in found.results[0].properties


def test_search_by_associated_company(sandbox: Any) -> None:
    store = sandbox.store
    company = store.create_object("companies", {"name": "Cliente"})
    other = store.create_object("companies", {"name": "Altro"})
    ordered = [store.create_object("deals", {"dealname": f"O{index}"}, [("companies", company)]) for index in range(3)]
    store.create_object("deals", {"dealname": "Altrui"}, [("companies", other)])

    found = search(
        sandbox,
        "deals",
        filter_groups=one_group({"propertyName": "associations.company", "operator": "EQ", "value": company}),
    )

    assert sorted(ids_of(found)) == sorted(ordered)


def test_paging_walks_every_result_once_with_the_after_offset(sandbox: Any) -> None:
    created = [sandbox.store.create_object("companies", {"name": f"Azienda {index}"}) for index in range(450)]

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = search(sandbox, "companies", limit=200, after=after)
        seen += ids_of(page)
        pages += 1
        if page.paging is None:
            break
        after = page.paging.next.after

    assert seen == created
    assert pages == 3


def test_search_refuses_pages_past_ten_thousand_results(sandbox: Any) -> None:
    for index in range(10_050):
        sandbox.store.create_object("companies", {"name": f"Azienda {index}"})

    last_allowed = search(sandbox, "companies", limit=100, after="9900")
    with pytest.raises(ApiException) as refused:
        search(sandbox, "companies", limit=100, after="9950")

    assert last_allowed.total == 10_050
    assert len(last_allowed.results) == 100
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "request_body",
    [
        {"limit": 201},
        {"filter_groups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}]}] * 6},
        {"filter_groups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 13}] * 2},
        {"filter_groups": one_group({"propertyName": "amount", "operator": "LIKE", "value": "1"})},
        {"filter_groups": one_group({"propertyName": "amount", "operator": "GT"})},
    ],
    ids=["limit over 200", "six groups", "twenty-six filters", "unknown operator", "missing value"],
)
def test_search_requests_beyond_hubspots_rules_get_400(sandbox: Any, request_body: dict[str, Any]) -> None:
    with pytest.raises(ApiException) as refused:
        search(sandbox, "deals", **request_body)

    assert refused.value.status == 400
    assert json.loads(refused.value.body)["category"] == "VALIDATION_ERROR"


def test_a_new_record_shows_in_search_only_after_the_lag(sandbox_factory: Any) -> None:
    server = sandbox_factory(search_lag_seconds=1.5)
    client = hubspot.Client.create(access_token=server.token, host=server.url)
    created = server.store.create_object("companies", {"name": "Appena creata"})

    hidden = search(server, "companies")

    assert ids_of(hidden) == [] and hidden.total == 0
    assert client.crm.objects.basic_api.get_by_id("companies", created).id == created  # reads are immediate
    server.store.clock.advance(1.4)
    assert ids_of(search(server, "companies")) == []
    server.store.clock.advance(0.1)
    assert ids_of(search(server, "companies")) == [created]


def test_an_updated_record_shows_its_previous_version_during_the_lag(sandbox_factory: Any) -> None:
    server = sandbox_factory()
    company = server.store.create_object("companies", {"name": "Prima", "sirank": "100"})
    server.store.configure(search_lag_seconds=1.5)

    server.store.update_object("companies", company, {"sirank": "900"})
    during = search(
        server, "companies", filter_groups=one_group({"propertyName": "sirank", "operator": "EQ", "value": "100"})
    )

    assert ids_of(during) == [company]
    server.store.clock.advance(1.5)
    after = search(
        server,
        "companies",
        filter_groups=one_group({"propertyName": "sirank", "operator": "EQ", "value": "900"}),
        properties=["sirank"],
    )
    assert ids_of(after) == [company]


def test_archived_records_never_show_in_search(sandbox: Any, deals: dict[str, str]) -> None:
    sandbox.store.configure(search_lag_seconds=30)
    sandbox.store.archive_object("deals", deals["grande"])

    found = search(sandbox, "deals", filter_groups=one_group({"propertyName": "amount", "operator": "HAS_PROPERTY"}))

    assert sorted(ids_of(found)) == sorted([deals["piccolo"], deals["medio"]])


# ---------------------------------------------------------------- the indexes agree with a plain scan

OPERATORS = st.sampled_from(["EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY"])
VALUES_BY_PROPERTY = {
    "amount": ["0", "5", "50", "100", "250", "1000"],
    "hs_object_id": ["1001", "1003", "1005", "1006", "1010"],
    "closedate": ["2026-01-10", "2026-02-01", "1769904000000", "2026-02-20T12:00:00Z", "2026-03-01"],
}


def filter_on(name: str) -> st.SearchStrategy[dict[str, Any]]:
    values = st.sampled_from(VALUES_BY_PROPERTY[name])
    return st.builds(
        lambda operator, low, high, listed: {
            "propertyName": name,
            "operator": operator,
            "value": low,
            "highValue": high,
            "values": listed,
        },
        OPERATORS,
        values,
        values,
        st.lists(values, min_size=1, max_size=3),
    )


FILTER = st.one_of(*(filter_on(name) for name in VALUES_BY_PROPERTY))


def plain_scan(store: PortalStore, groups: list[dict[str, Any]]) -> set[str]:
    """What the search must return, evaluated record by record without any index."""
    from sandbox.search import compile_filter

    kinds = {"amount": "number", "hs_object_id": "number", "closedate": "datetime"}
    matched = set()
    for record in store._records["deals"].values():
        if record.archived:
            continue
        if not groups:
            matched.add(record.id)
        for group in groups:
            if all(
                compile_filter(spec, kinds.__getitem__)[1](record.properties.get(spec["propertyName"]))
                for spec in group["filters"]
            ):
                matched.add(record.id)
                break
    return matched


@pytest.fixture(scope="module")
def small_portal() -> PortalStore:
    store = PortalStore(rate_limit=0)
    dates = ["2026-01-10T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-20T12:00:00Z", ""]
    for index in range(12):
        store.create_object(
            "deals",
            {"dealname": f"D{index}", "amount": AMOUNTS_LIST[index % len(AMOUNTS_LIST)], "closedate": dates[index % 4]},
        )
    store.archive_object("deals", "1005")
    return store


AMOUNTS_LIST = ["", "0", "5", "50", "99.5", "100", "250", "1000"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    groups=st.lists(
        st.builds(lambda filters: {"filters": filters}, st.lists(FILTER, min_size=1, max_size=3)), max_size=3
    ),
    sort=st.sampled_from([None, ("amount", "ASCENDING"), ("hs_object_id", "DESCENDING"), ("closedate", "DESCENDING")]),
)
def test_indexed_search_returns_exactly_what_a_plain_scan_finds(
    small_portal: PortalStore, groups: list[dict[str, Any]], sort: tuple[str, str] | None
) -> None:
    request: dict[str, Any] = {"filterGroups": groups, "limit": 200}
    if sort:
        request["sorts"] = [{"propertyName": sort[0], "direction": sort[1]}]

    found = small_portal.search("deals", request)

    assert {record["id"] for record in found["results"]} == plain_scan(small_portal, groups)
    assert found["total"] == len(found["results"])
    if sort:
        name, direction = sort
        kind_values = [
            float(record["properties"].get(name) or "nan")
            if name != "closedate"
            else (
                datetime.fromisoformat(record["properties"][name].replace("Z", "+00:00")).timestamp()
                if record["properties"].get(name)
                else float("nan")
            )
            for record in found["results"]
        ]
        present = [value for value in kind_values if value == value]
        assert present == sorted(present, reverse=direction == "DESCENDING")
        assert kind_values[: len(present)] == present  # records without the value come last


def test_a_range_filter_on_associations_matches_no_record_without_associations(sandbox: Any) -> None:
    linked = sandbox.store.create_object("companies", {"name": "Con contatti"})
    sandbox.store.create_object("contacts", {"email": "a@rossi.it"}, [("companies", linked)])
    sandbox.store.create_object("companies", {"name": "Senza contatti"})

    found = search(
        sandbox,
        "companies",
        filter_groups=one_group({"propertyName": "associations.contact", "operator": "GT", "value": "0"}),
    )

    assert ids_of(found) == [linked]
