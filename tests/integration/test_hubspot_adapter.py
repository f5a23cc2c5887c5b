"""The HubSpot adapter against the sandbox portal, over real HTTP through hubspot-api-client.

Records that a test only needs to exist are inserted in-process through the sandbox store (fast, and not
counted as API calls); what the test is about goes through the adapter.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

import sandbox.limits
from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.domain.models import CrmRecord
from flywheel.ports import AssociationTarget, CrmError, Filter

pytestmark = pytest.mark.sandbox

SEARCH_ENDPOINT = "POST /crm/v3/objects/{objectType}/search"
CREATE_ENDPOINT = "POST /crm/v3/objects/{objectType}"


@pytest.fixture
def server(sandbox_factory: Callable[..., Any]) -> Any:
    return sandbox_factory(companies=0, rate_limit=0)


def adapter_for(server: Any, **options: Any) -> HubSpotCrm:
    options.setdefault("rate_limit_per_10s", 0)
    return HubSpotCrm(api_base=server.url, access_token=server.token, **options)


def no_sleep(_: float) -> None:
    """For faults that do not depend on time: retry at once instead of backing off for real."""


def stats(server: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/_sandbox/stats") as answer:
        result: dict[str, Any] = json.load(answer)
    return result


def assert_every_call_counted(server: Any, crm: HubSpotCrm) -> None:
    assert stats(server)["calls"]["total"] == crm.calls_made


def seed_companies(server: Any, count: int, **properties: str) -> list[str]:
    return [server.store.create_object("companies", {"name": f"Azienda {n}", **properties}) for n in range(count)]


def ids_of(records: tuple[CrmRecord, ...] | list[CrmRecord]) -> list[str]:
    return [record.id for record in records]


# --- construction and schema ---------------------------------------------------------------------------------


def test_building_the_adapter_makes_no_call(server: Any) -> None:
    crm = adapter_for(server)
    assert crm.calls_made == 0
    assert stats(server)["calls"]["total"] == 0


def test_owners_are_all_read(server: Any) -> None:
    crm = adapter_for(server)
    owners = crm.owners()
    assert sorted(o.id for o in owners) == sorted(str(o["id"]) for o in server.store.owners())
    assert all(o.email for o in owners)
    assert_every_call_counted(server, crm)


def test_pipelines_carry_whether_each_stage_is_closed_and_won(server: Any) -> None:
    pipelines = {p.label: p for p in adapter_for(server).pipelines("deals")}
    wake_up = pipelines["Wake Up Pipeline"]
    assert [s.label for s in wake_up.stages] == [
        "Da contattare",
        "Contattato",
        "Interessato",
        "Appuntamento fissato",
        "Riattivato",
        "Non interessato",
    ]
    assert wake_up.stage_by_label("Riattivato").is_won
    lost = wake_up.stage_by_label("Non interessato")
    assert lost.is_closed and not lost.is_won
    assert not wake_up.stage_by_label("Da contattare").is_closed


def test_a_wrong_token_is_refused_for_good(server: Any) -> None:
    crm = HubSpotCrm(api_base=server.url, access_token="not-the-token", rate_limit_per_10s=0)
    with pytest.raises(CrmError) as refused:
        crm.owners()
    assert refused.value.status == 401
    assert not refused.value.transient
    assert crm.calls_made == 1


# --- batches -------------------------------------------------------------------------------------------------


def test_a_batch_of_100_creates_is_accepted_and_one_of_101_refused_with_400(server: Any) -> None:
    crm = adapter_for(server)
    created = crm.create_batch("companies", [{"name": f"Azienda {n}"} for n in range(100)])
    assert len(created) == 100
    assert server.store.counts()["companies"] == 100

    with pytest.raises(CrmError) as refused:
        crm.create_batch("companies", [{"name": f"Altra {n}"} for n in range(101)])
    assert refused.value.status == 400
    assert not refused.value.transient
    assert server.store.counts()["companies"] == 100
    assert_every_call_counted(server, crm)


def test_read_batch_returns_the_records_in_the_order_asked_and_leaves_out_missing_ids(server: Any) -> None:
    existing = seed_companies(server, 150)
    asked = [*existing[:70], "99999901", *existing[70:], "99999902"]
    crm = adapter_for(server)
    records = crm.read_batch("companies", asked, ["name"])
    assert ids_of(records) == existing
    assert records[0].prop("name") == "Azienda 0"
    assert crm.calls_made == 2  # 152 ids: two batches
    assert crm.read_batch("companies", ["99999903"], ["name"]) == []


def test_update_batch_sets_properties_on_more_than_one_batch_of_records(server: Any) -> None:
    ids = seed_companies(server, 150)
    crm = adapter_for(server)
    crm.update_batch("companies", [(i, {"retention_segment": "cold"}) for i in ids])
    assert {server.store.get_properties("companies", i)["retention_segment"] for i in ids} == {"cold"}
    assert crm.calls_made == 2


def test_update_batch_applies_repeated_ids_in_order(server: Any) -> None:
    [company] = seed_companies(server, 1)
    crm = adapter_for(server)
    crm.update_batch(
        "companies", [(company, {"retention_segment": "cold"}), (company, {"retention_segment": "active"})]
    )
    assert server.store.get_properties("companies", company)["retention_segment"] == "active"


# --- paging ----------------------------------------------------------------------------------------------------


def test_listing_goes_100_a_page_through_every_record_and_resumes_from_a_page_cursor(server: Any) -> None:
    ids = seed_companies(server, 250)
    crm = adapter_for(server)
    pages = list(crm.list_pages("companies", ["name"]))
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [r.id for p in pages for r in p.records] == ids
    assert pages[-1].after is None

    resumed = list(crm.list_pages("companies", ["name"], after=pages[0].after))
    assert [r.id for p in resumed for r in p.records] == ids[100:]


def test_listing_archived_records_returns_them_and_only_them(server: Any) -> None:
    ids = seed_companies(server, 3)
    server.store.archive_object("companies", ids[1])
    crm = adapter_for(server)
    archived = [r for p in crm.list_pages("companies", ["name"], archived=True) for r in p.records]
    assert ids_of(archived) == [ids[1]]
    assert archived[0].archived
    live = [r for p in crm.list_pages("companies", ["name"]) for r in p.records]
    assert ids_of(live) == [ids[0], ids[2]]


def test_listed_associations_are_named_by_plural_object_type_whatever_name_was_asked(server: Any) -> None:
    [company, lonely] = seed_companies(server, 2)
    deal = server.store.create_object("deals", {"dealname": "Ordine 1"}, [("companies", company)])
    crm = adapter_for(server)
    records = {r.id: r for p in crm.list_pages("companies", ["name"], associations=["deal"]) for r in p.records}
    assert records[company].associations == {"deals": (deal,)}
    assert records[lonely].associations == {"deals": ()}


def test_search_goes_200_a_page_in_ascending_id_order_over_matches_only(server: Any) -> None:
    resellers = seed_companies(server, 250, customer_category="reseller")
    seed_companies(server, 30, customer_category="end_user")
    crm = adapter_for(server)
    pages = list(crm.search_pages("companies", [Filter("customer_category", "EQ", "reseller")], ["name"]))
    assert [len(p.records) for p in pages] == [200, 50]
    found = [r.id for p in pages for r in p.records]
    assert found == sorted(resellers, key=int)


def test_a_search_matching_more_than_10000_records_returns_each_exactly_once(server: Any) -> None:
    ids = seed_companies(server, 10_450)
    crm = adapter_for(server)
    pages = list(crm.search_pages("companies", [Filter("name", "HAS_PROPERTY")], ["name"]))
    found = [r.id for p in pages for r in p.records]
    assert len(found) == 10_450
    assert found == sorted(ids, key=int)
    # every page was one successful search call: the adapter never asked past the 10,000-result cap
    assert stats(server)["calls"]["by_endpoint"][SEARCH_ENDPOINT] == len(pages) == crm.calls_made

    # a run that stopped after any page, the partition switch included, resumes exactly where it stopped
    for stopped_after in (2, 49, 50):
        cursor = pages[stopped_after].after
        rest = [
            r.id
            for p in crm.search_pages("companies", [Filter("name", "HAS_PROPERTY")], [], after=cursor)
            for r in p.records
        ]
        assert rest == found[(stopped_after + 1) * 200 :]


def test_find_by_values_finds_a_record_by_its_key_and_nothing_for_an_unknown_key(server: Any) -> None:
    server.store.create_object("tasks", {"hs_task_subject": "Richiamare", "flywheel_key": "cold:1:2026-11"})
    wanted = server.store.create_object("tasks", {"hs_task_subject": "Richiamare", "flywheel_key": "cold:2:2026-11"})
    crm = adapter_for(server)
    found = crm.find_by_values("tasks", "flywheel_key", ["cold:2:2026-11"]).get("cold:2:2026-11")
    assert found is not None and found.id == wanted
    assert found.prop("flywheel_key") == "cold:2:2026-11"
    assert crm.find_by_values("tasks", "flywheel_key", ["cold:3:2026-11"]).get("cold:3:2026-11") is None


# --- creates and associations -----------------------------------------------------------------------------------


def test_a_created_deal_is_associated_with_its_company_and_contact_both_ways(server: Any) -> None:
    [company] = seed_companies(server, 1)
    contact = server.store.create_object("contacts", {"email": "anna@example.it"}, [("companies", company)])
    crm = adapter_for(server)
    deal = crm.create(
        "deals",
        {"dealname": "Riattivazione", "flywheel_key": "cold:1:2026-11"},
        [AssociationTarget("companies", company), AssociationTarget("contacts", contact)],
    )
    assert deal.prop("dealname") == "Riattivazione"
    assert crm.associated_ids("deals", "companies", [deal.id]) == {deal.id: [company]}
    assert crm.associated_ids("companies", "deals", [company]) == {company: [deal.id]}
    assert crm.associated_ids("contacts", "deals", [contact]) == {contact: [deal.id]}
    assert crm.calls_made == 4  # the associations travelled in the create's body


def test_a_pair_without_a_documented_default_type_is_associated_right_after_the_create(server: Any) -> None:
    contact = server.store.create_object("contacts", {"email": "luca@example.it"})
    crm = adapter_for(server)
    cart = crm.create("carts", {"hs_cart_name": "Carrello"}, [AssociationTarget("contacts", contact)])
    assert server.store.associated_ids("carts", cart.id, "contacts") == [contact]
    assert server.store.associated_ids("contacts", contact, "carts") == [cart.id]
    assert cart.associations == {"contacts": (contact,)}


def test_associated_ids_covers_more_than_one_batch_and_ids_without_associations(server: Any) -> None:
    companies = seed_companies(server, 150)
    deals = {c: server.store.create_object("deals", {"dealname": f"Ordine {c}"}, [("companies", c)]) for c in companies}
    second = server.store.create_object("deals", {"dealname": "Secondo"}, [("companies", companies[0])])
    lonely = server.store.create_object("companies", {"name": "Senza ordini"})
    crm = adapter_for(server)
    linked = crm.associated_ids("companies", "deals", [*companies, lonely])
    assert linked[lonely] == []
    assert sorted(linked[companies[0]]) == sorted([deals[companies[0]], second])
    assert all(linked[c] == [deals[c]] for c in companies[1:])
    assert crm.calls_made == 2


# --- limits and faults ---------------------------------------------------------------------------------------------


@pytest.fixture
def one_second_rate_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's rate window shrunk from 10 s to 1 s, so that waiting out a 429 takes a second, not ten."""
    monkeypatch.setattr(sandbox.limits, "RATE_WINDOW_SECONDS", 1.0)


@pytest.mark.usefixtures("one_second_rate_window")
def test_a_burst_above_the_rate_limit_gets_429s_that_the_retries_absorb(server: Any) -> None:
    ids = seed_companies(server, 5)
    server.store.configure(rate_limit=4)
    crm = adapter_for(server)  # no client-side limiter: the burst reaches the portal
    results = [crm.read_batch("companies", ids, ["name"]) for _ in range(10)]
    assert all(ids_of(r) == ids for r in results)
    assert stats(server)["rate_limited"] > 0
    assert crm.calls_made == 10 + stats(server)["rate_limited"]
    assert_every_call_counted(server, crm)


@pytest.mark.usefixtures("one_second_rate_window")
def test_a_throttled_create_is_repeated_since_hubspot_did_not_process_it(server: Any) -> None:
    server.store.configure(rate_limit=1)
    crm = adapter_for(server)
    first = crm.create("tasks", {"hs_task_subject": "Uno", "flywheel_key": "k1"})
    second = crm.create("tasks", {"hs_task_subject": "Due", "flywheel_key": "k2"})
    assert first.id != second.id
    assert server.store.counts()["tasks"] == 2
    assert stats(server)["rate_limited"] >= 1


def test_server_errors_on_reads_are_retried_until_every_read_completes(server: Any) -> None:
    ids = seed_companies(server, 250, customer_category="reseller")
    server.store.configure(fault_rate=0.3)
    crm = adapter_for(server, sleep=no_sleep)
    listed = [r.id for p in crm.list_pages("companies", ["name"]) for r in p.records]
    searched = [
        r.id
        for p in crm.search_pages("companies", [Filter("customer_category", "EQ", "reseller")], [])
        for r in p.records
    ]
    read = ids_of(crm.read_batch("companies", ids, ["name"]))
    assert listed == searched == read == ids
    assert crm.calls_made > 3 + 2 + 3  # some of the 8 reads needed more than one attempt
    assert_every_call_counted(server, crm)


def test_a_create_that_meets_a_server_error_is_not_repeated_and_reported_as_transient(server: Any) -> None:
    server.store.configure(fault_rate=1.0)
    crm = adapter_for(server, sleep=no_sleep)
    with pytest.raises(CrmError) as failed:
        crm.create("tasks", {"hs_task_subject": "Richiamare", "flywheel_key": "k1"})
    assert failed.value.transient
    assert failed.value.status in (502, 503, 504)
    assert crm.calls_made == 1
    assert stats(server)["calls"]["by_endpoint"] == {CREATE_ENDPOINT: 1}


def test_a_refused_create_says_which_property_and_why_but_never_the_values(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    crm = adapter_for(server)
    with caplog.at_level("DEBUG", logger="flywheel"), pytest.raises(CrmError) as refused:
        crm.create("contacts", {"email": "anna.rossi@example.it", "hs_email_optout": "Anna Rossi"})
    message = str(refused.value)
    assert refused.value.status == 400 and not refused.value.transient
    assert "hs_email_optout" in message
    for personal in ("anna.rossi@example.it", "Anna Rossi"):
        assert personal not in message
        assert personal not in caplog.text
    assert server.store.counts()["contacts"] == 0


def test_a_search_cursor_from_anywhere_else_is_refused_before_any_call(server: Any) -> None:
    crm = adapter_for(server)
    with pytest.raises(ValueError):
        next(crm.search_pages("companies", [], [], after="400"))
    assert crm.calls_made == 0
