"""The in-memory Crm fake behaves as HubSpot does, so that service tests on it mean something."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.config import PortalContract
from flywheel.ports import AssociationTarget, CrmError, Filter
from flywheel.services.mapping import parse_date
from flywheel.services.portal import PortalSchema

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def crm() -> MemoryCrm:
    return MemoryCrm.with_default_schema(now=lambda: NOW)


def ids_of_search(crm: MemoryCrm, object_type: str, *filters: Filter) -> list[str]:
    return [r.id for page in crm.search_pages(object_type, filters, []) for r in page.records]


# --- schema ----------------------------------------------------------------------------------------------------


def test_the_default_schema_satisfies_the_portal_contract(crm: MemoryCrm) -> None:
    schema = PortalSchema.load(crm, PortalContract())

    assert schema.sales_assistant.email == "assistente.commerciale@sicomputer.it"
    assert len(schema.order_pipeline_ids) == 2
    assert schema.wakeup_stage("Riattivato").is_won
    lost = schema.wakeup_stage("Non interessato")
    assert lost.is_closed and not lost.is_won
    assert not schema.wakeup_stage("Da contattare").is_closed
    assert len(schema.order_won_stage_ids()) == 2


def test_a_configured_contract_renames_pipelines_and_the_assistant() -> None:
    contract = PortalContract(
        order_pipelines=["Vendite"], wakeup_pipeline="Risveglio", sales_assistant_email="sa@example.it"
    )
    crm = MemoryCrm.with_default_schema(contract)

    schema = PortalSchema.load(crm, contract)

    assert schema.wakeup_pipeline.label == "Risveglio"
    assert schema.sales_assistant.id == crm.sales_assistant.id


def test_an_order_is_a_closed_won_deal_in_an_order_pipeline_on_its_rome_date(crm: MemoryCrm) -> None:
    company = crm.add_company("Rossi Informatica")
    order = crm.add_order(company, 1250.5, date(2025, 12, 31))
    lost = crm.add_order(company, 99, date(2025, 12, 1), pipeline="Sales management", won=False)
    schema = PortalSchema.load(crm, PortalContract())

    deal = crm.get("deals", order)
    assert schema.is_order(deal.prop("pipeline"), deal.prop("dealstage"))
    assert deal.prop("amount") == "1250.5"
    assert parse_date(deal.prop("closedate")) == date(2025, 12, 31)
    assert deal.associations["companies"] == (company,)
    assert not schema.is_order(crm.get("deals", lost).prop("pipeline"), crm.get("deals", lost).prop("dealstage"))


# --- records ---------------------------------------------------------------------------------------------------


def test_records_carry_id_and_timestamps_from_the_injected_clock(crm: MemoryCrm) -> None:
    record = crm.create("companies", {"name": "Bianchi S.p.A."})

    assert record.prop("hs_object_id") == record.id
    assert record.prop("createdate") == "2026-03-01T09:30:00.000Z"
    assert record.prop("hs_lastmodifieddate") == "2026-03-01T09:30:00.000Z"


def test_an_update_changes_properties_and_the_modification_time() -> None:
    clock = [NOW]
    crm = MemoryCrm(now=lambda: clock[0])
    company = crm.add("companies", {"name": "Verdi", "sirank": "10"})
    clock[0] = datetime(2026, 3, 2, tzinfo=UTC)

    crm.update_batch("companies", [(company, {"sirank": "42"})])

    record = crm.get("companies", company)
    assert record.prop("sirank") == "42"
    assert record.prop("name") == "Verdi"
    assert record.prop("hs_lastmodifieddate") == "2026-03-02T00:00:00.000Z"
    assert record.prop("createdate") == "2026-03-01T09:30:00.000Z"


def test_an_update_of_an_unknown_record_is_refused_alone_as_hubspot_s_207_does(crm: MemoryCrm) -> None:
    company = crm.add_company("Neri")

    refusals = crm.update_batch("companies", [(company, {"sirank": "1"}), ("999999", {"sirank": "2"})])

    assert [(r.record_id, r.status) for r in refusals] == [("999999", 404)]
    assert crm.get("companies", company).prop("sirank") == "1"


def test_read_batch_leaves_out_missing_and_archived_ids(crm: MemoryCrm) -> None:
    kept, archived = crm.add_company("A"), crm.add_company("B")
    crm.archive("companies", archived)

    records = crm.read_batch("companies", [kept, "424242", archived], ["name"])

    assert [(r.id, r.prop("name")) for r in records] == [(kept, "A")]


def test_reads_return_the_asked_properties_and_none_for_unset_ones(crm: MemoryCrm) -> None:
    company = crm.add_company("A", province="MI")

    (record,) = crm.read_batch("companies", [company], ["province", "sirank"])

    assert record.properties["province"] == "MI"
    assert record.properties["sirank"] is None
    assert "customer_category" not in record.properties


def test_unknown_object_types_are_refused(crm: MemoryCrm) -> None:
    with pytest.raises(CrmError):
        crm.create("company", {"name": "typo"})


# --- associations ----------------------------------------------------------------------------------------------


def test_associations_made_on_create_are_readable_from_both_ends(crm: MemoryCrm) -> None:
    company = crm.add_company("A")
    contact = crm.add_contact(company)

    deal = crm.create(
        "deals",
        {"dealname": "Wake up"},
        [AssociationTarget("companies", company), AssociationTarget("contacts", contact)],
    )

    assert crm.associated_ids("deals", "companies", [deal.id]) == {deal.id: [company]}
    assert crm.associated_ids("companies", "deals", [company]) == {company: [deal.id]}
    assert crm.associated_ids("contacts", "deals", [contact]) == {contact: [deal.id]}
    assert crm.associated_ids("companies", "contacts", [company, "777"]) == {company: [contact], "777": []}


def test_an_association_to_an_unknown_record_refuses_the_create(crm: MemoryCrm) -> None:
    with pytest.raises(CrmError) as refused:
        crm.create("deals", {"dealname": "x"}, [AssociationTarget("companies", "31337")])

    assert refused.value.status == 400
    assert crm.all("deals") == []


def test_list_pages_return_asked_associations_under_plural_names(crm: MemoryCrm) -> None:
    company = crm.add_company("A")
    first, second = crm.add_contact(company), crm.add_contact(company)
    lonely = crm.add_company("B")

    pages = list(crm.list_pages("companies", ["name"], associations=["contact"]))

    by_id = {r.id: r for p in pages for r in p.records}
    assert by_id[company].associations == {"contacts": (first, second)}
    assert by_id[lonely].associations == {"contacts": ()}  # asked for, none there: as the HubSpot adapter reads it


# --- listing ---------------------------------------------------------------------------------------------------


def test_list_pages_hold_100_records_and_resume_after_a_cursor(crm: MemoryCrm) -> None:
    ids = [crm.add("companies", {"name": f"C{n}"}) for n in range(250)]

    pages = list(crm.list_pages("companies", ["name"]))
    resumed = list(crm.list_pages("companies", ["name"], after=pages[0].after))

    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [r.id for p in pages for r in p.records] == ids
    assert pages[-1].after is None
    assert [r.id for p in resumed for r in p.records] == ids[100:]
    assert crm.calls_made == 3 + 2


def test_an_empty_listing_is_one_empty_page(crm: MemoryCrm) -> None:
    assert [p.records for p in crm.list_pages("carts", [])] == [()]


def test_archived_records_are_listed_only_when_asked(crm: MemoryCrm) -> None:
    live, gone = crm.add_company("live"), crm.add_company("gone")
    crm.archive("companies", gone)

    assert [r.id for p in crm.list_pages("companies", []) for r in p.records] == [live]
    archived = [r for p in crm.list_pages("companies", [], archived=True) for r in p.records]
    assert [(r.id, r.archived) for r in archived] == [(gone, True)]


# --- search ----------------------------------------------------------------------------------------------------


def test_search_pages_hold_200_records_in_ascending_id_order(crm: MemoryCrm) -> None:
    ids = [crm.add("companies", {"customer_category": "reseller"}) for _ in range(450)]

    pages = list(crm.search_pages("companies", [Filter("customer_category", "EQ", "reseller")], []))
    resumed = list(crm.search_pages("companies", [], [], after=pages[1].after))

    assert [len(p.records) for p in pages] == [200, 200, 50]
    assert [r.id for p in pages for r in p.records] == ids
    assert [r.id for p in resumed for r in p.records] == ids[400:]


def test_search_ands_its_filters_and_never_finds_archived_records(crm: MemoryCrm) -> None:
    wanted = crm.add_company("A", province="MI", sirank="6000")
    crm.add_company("B", province="MI", sirank="100")
    crm.add_company("C", province="RM", sirank="9000")
    archived = crm.add_company("D", province="MI", sirank="7000")
    crm.archive("companies", archived)

    found = ids_of_search(crm, "companies", Filter("province", "EQ", "MI"), Filter("sirank", "GT", "5000"))

    assert found == [wanted]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter("sirank", "EQ", "5000"), ["five_thousand"]),
        (Filter("sirank", "NEQ", "5000"), ["nine", "ten_thousand", "unset"]),
        (Filter("sirank", "LT", "5000"), ["nine"]),
        (Filter("sirank", "LTE", "5000"), ["nine", "five_thousand"]),
        (Filter("sirank", "GT", "5000"), ["ten_thousand"]),
        (Filter("sirank", "GTE", "5000"), ["five_thousand", "ten_thousand"]),
        (Filter("sirank", "BETWEEN", "9", high_value="5000"), ["nine", "five_thousand"]),
        (Filter("sirank", "IN", values=("9", "10000")), ["nine", "ten_thousand"]),
        (Filter("sirank", "NOT_IN", values=("9", "10000")), ["five_thousand", "unset"]),
        (Filter("sirank", "HAS_PROPERTY"), ["nine", "five_thousand", "ten_thousand"]),
        (Filter("sirank", "NOT_HAS_PROPERTY"), ["unset"]),
    ],
)
def test_search_operators_compare_numbers_as_numbers(flt: Filter, expected: list[str]) -> None:
    crm = MemoryCrm()
    names = {
        crm.add("companies", {"sirank": "9"}): "nine",
        crm.add("companies", {"sirank": "5000.0"}): "five_thousand",
        crm.add("companies", {"sirank": "10000"}): "ten_thousand",
        crm.add("companies", {}): "unset",
    }

    assert [names[i] for i in ids_of_search(crm, "companies", flt)] == expected


def test_text_equality_ignores_case_as_hubspot_does() -> None:
    crm = MemoryCrm()
    company = crm.add("companies", {"customer_category": "Reseller"})

    assert ids_of_search(crm, "companies", Filter("customer_category", "EQ", "reseller")) == [company]


def test_datetimes_compare_as_instants_whether_iso_or_epoch_milliseconds() -> None:
    crm = MemoryCrm()
    early = crm.add("deals", {"closedate": "2025-01-31T23:00:00Z"})
    late = crm.add("deals", {"closedate": "1738368000000"})  # 2025-02-01T00:00:00Z
    day_only = crm.add("deals", {"closedate": "2025-02-01"})
    february = str(int(datetime(2025, 2, 1, tzinfo=UTC).timestamp() * 1000))

    assert ids_of_search(crm, "deals", Filter("closedate", "GTE", february)) == [late, day_only]
    assert ids_of_search(crm, "deals", Filter("closedate", "LT", "2025-02-01T00:00:00.000Z")) == [early]
    assert ids_of_search(crm, "deals", Filter("closedate", "EQ", "2025-02-01T01:00:00+01:00")) == [late, day_only]


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_a_datetime_filter_agrees_with_the_instants_it_compares(stored: datetime, bound: datetime) -> None:
    crm = MemoryCrm()
    record = crm.add("deals", {"closedate": stored.isoformat().replace("+00:00", "Z")})
    bound_ms = str(int(bound.timestamp() * 1000))

    found = ids_of_search(crm, "deals", Filter("closedate", "LT", bound_ms))

    assert (found == [record]) == (int(stored.timestamp() * 1000) < int(bound_ms))


def test_association_pseudo_properties_find_a_companys_deals(crm: MemoryCrm) -> None:
    company, other = crm.add_company("A"), crm.add_company("B")
    mine = crm.add_order(company, 10, date(2025, 5, 1))
    crm.add_order(other, 10, date(2025, 5, 1))
    orphan = crm.add("deals", {"dealname": "nobody's"})

    assert ids_of_search(crm, "deals", Filter("associations.company", "EQ", company)) == [mine]
    assert ids_of_search(crm, "deals", Filter("associations.company", "NOT_HAS_PROPERTY")) == [orphan]


def test_a_filter_without_its_value_is_a_bad_request(crm: MemoryCrm) -> None:
    with pytest.raises(CrmError) as refused:
        list(crm.search_pages("companies", [Filter("sirank", "GT")], []))

    assert refused.value.status == 400


def test_a_string_property_compares_as_text_even_when_its_values_look_like_numbers(crm: MemoryCrm) -> None:
    milan = crm.add_company("A", phone="0212345678")
    short = crm.add_company("B", phone="99")

    assert ids_of_search(crm, "companies", Filter("phone", "EQ", "212345678")) == []
    assert ids_of_search(crm, "companies", Filter("phone", "LT", "1")) == [milan]
    assert ids_of_search(crm, "companies", Filter("phone", "GT", "100")) == [short]


def test_a_property_the_fake_does_not_know_compares_by_what_its_values_look_like() -> None:
    crm = MemoryCrm()
    low, high = crm.add("companies", {"zip": "0900"}), crm.add("companies", {"zip": "20100"})

    assert crm.property_type("companies", "zip") is None
    assert ids_of_search(crm, "companies", Filter("zip", "EQ", "900")) == [low]  # as numbers
    assert ids_of_search(crm, "companies", Filter("zip", "LT", "3")) == []

    crm.define_property("companies", "zip", "string")

    assert crm.property_type("companies", "zip") == "string"
    assert ids_of_search(crm, "companies", Filter("zip", "EQ", "900")) == []  # as text
    assert ids_of_search(crm, "companies", Filter("zip", "LT", "3")) == [low, high]


def test_the_contract_s_property_names_carry_their_types() -> None:
    crm = MemoryCrm.with_default_schema(PortalContract(sirank="valore", last_purchase_date="ultimo_ordine"))

    assert crm.property_type("companies", "valore") == "number"
    assert crm.property_type("companies", "ultimo_ordine") == "date"
    assert crm.property_type("companies", "sirank") is None
    assert crm.property_type("deals", "amount") == "number"
    assert crm.property_type("tasks", "hs_object_id") == "number"


@pytest.mark.parametrize(
    "flt",
    [
        Filter("sirank", "GT", "molto"),
        Filter("sirank", "BETWEEN", "1", high_value="tanto"),
        Filter("last_purchase_date", "LT", "ieri"),
        Filter("province", "IN", values=()),
    ],
)
def test_a_value_of_the_wrong_type_or_an_empty_list_is_a_bad_request(crm: MemoryCrm, flt: Filter) -> None:
    with pytest.raises(CrmError) as refused:
        list(crm.search_pages("companies", [flt], []))

    assert refused.value.status == 400


# --- find_by_values, calls and failures ------------------------------------------------------------------------------


def test_find_by_values_returns_the_live_record_with_the_value(crm: MemoryCrm) -> None:
    archived = crm.add("tasks", {"flywheel_key": "cold:1:2026-03"})
    crm.archive("tasks", archived)
    live = crm.add("tasks", {"flywheel_key": "cold:1:2026-03"})

    found = crm.find_by_values("tasks", "flywheel_key", ["cold:1:2026-03"]).get("cold:1:2026-03")

    assert found is not None and found.id == live
    assert crm.find_by_values("tasks", "flywheel_key", ["cold:2:2026-03"]).get("cold:2:2026-03") is None


def test_find_by_values_matches_as_a_hubspot_eq_search_does_ignoring_case(crm: MemoryCrm) -> None:
    task = crm.add("tasks", {"flywheel_key": "Cold:1:2026-03"})

    found = crm.find_by_values("tasks", "flywheel_key", ["cold:1:2026-03"]).get("cold:1:2026-03")

    assert found is not None and found.id == task


def test_calls_are_counted_per_page_batch_and_create_but_not_for_seeding(crm: MemoryCrm) -> None:
    ids = [crm.add_company(f"C{n}") for n in range(150)]
    assert crm.calls_made == 0

    crm.read_batch("companies", ids, ["name"])  # 2 batches
    crm.update_batch("companies", [(i, {"sirank": "1"}) for i in ids])  # 2 batches
    crm.associated_ids("companies", "contacts", ids)  # 2 batches
    crm.create("notes", {"hs_note_body": "x"})  # 1
    crm.find_by_values("notes", "hs_note_body", ["x"]).get("x")  # 1
    crm.owners()  # 1
    crm.pipelines("deals")  # 1
    crm.find_by_values("notes", "hs_note_body", [])  # none: nothing to search for

    assert crm.calls_made == 10


def test_a_create_counts_one_more_call_for_each_association_the_adapter_makes_after_it(crm: MemoryCrm) -> None:
    company = crm.add_company("A")

    crm.create("tasks", {"hs_task_subject": "x"}, [AssociationTarget("companies", company)])
    assert crm.calls_made == 1

    # HubSpot documents no default type id for carts -> companies: the adapter makes it a second call
    created = crm.create("carts", {"hs_cart_name": "D"}, [AssociationTarget("companies", company)])
    assert crm.calls_made == 3
    assert created.associations == {"companies": (company,)}
    assert crm.get("companies", company).associations["carts"] == (created.id,)


def test_an_update_sends_each_record_once_with_its_last_values(crm: MemoryCrm) -> None:
    ids = [crm.add_company(f"C{n}") for n in range(100)]

    assert crm.update_batch("companies", [(i, {"sirank": "1"}) for i in ids] + [(ids[0], {"sirank": "2"})]) == []

    assert crm.calls_made == 1
    assert crm.get("companies", ids[0]).prop("sirank") == "2"


def test_an_injected_failure_strikes_once_and_before_the_effect(crm: MemoryCrm) -> None:
    crm.fail_next_create(CrmError("busy", status=503, transient=True))

    with pytest.raises(CrmError):
        crm.create("tasks", {"flywheel_key": "k"})
    second = crm.create("tasks", {"flywheel_key": "k"})

    assert [r.id for r in crm.all("tasks")] == [second.id]


def test_a_failure_after_the_effect_leaves_the_record_to_be_reconciled(crm: MemoryCrm) -> None:
    crm.fail_next_create(after_effect=True)

    with pytest.raises(CrmError) as failed:
        crm.create("deals", {"flywheel_key": "cold:7:2026-03"})

    assert failed.value.transient
    found = crm.find_by_values("deals", "flywheel_key", ["cold:7:2026-03"]).get("cold:7:2026-03")
    assert found is not None
    assert crm.calls_made == 2
