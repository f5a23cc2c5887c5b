"""The synthetic SiComputer portal: deterministic, internally consistent, shaped like the business it imitates."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import hubspot.crm.owners as owners_api
import hubspot.crm.pipelines as pipelines_api
import hubspot.crm.properties as properties_api
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import schema
from sandbox.generator import HISTORY_DAYS, GeneratedPortal, generate_portal

ROME = ZoneInfo("Europe/Rome")
TODAY = date(2026, 3, 16)  # two weeks before Rome moves to summer time
COMPANIES = 1000

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def portal() -> GeneratedPortal:
    return generate_portal(COMPANIES, seed=11, today=TODAY)


def rome_date(value: str) -> date:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ROME).date()


def rome_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ROME)


def orders_by_company(portal: GeneratedPortal) -> dict[str, list[tuple[date, float]]]:
    """Closed-won deals in the order pipelines, by the company they are associated with."""
    won = {(p, schema.WON_STAGE_BY_PIPELINE[p]) for p in schema.ORDER_PIPELINE_IDS}
    deal_company = {f: t for f_type, f, t_type, t in portal.associations if (f_type, t_type) == ("deals", "companies")}
    orders: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for deal in portal.objects["deals"]:
        properties = deal["properties"]
        if (properties["pipeline"], properties["dealstage"]) in won:
            orders[deal_company[deal["id"]]].append((rome_date(properties["closedate"]), float(properties["amount"])))
    return orders


def segment(days: int | None) -> str:
    if days is None:
        return "never"
    return "active" if days < 60 else "lukewarm" if days < 180 else "cold" if days < 1461 else "lost"


def sirank(orders: list[tuple[date, float]], as_of: date, dp_member: bool) -> float:
    """The issue's default SiRank formula, restated here so the test depends on nothing but the data."""
    recent = [amount for day, amount in orders if 0 <= (as_of - day).days < 365]
    first = min((day for day, _ in orders), default=as_of)  # tenure in completed years, like an age
    tenure_years = as_of.year - first.year - ((as_of.month, as_of.day) < (first.month, first.day))
    return (
        sum(recent)
        * (1 + 0.5 * min(len(recent) / 12, 1))
        * (1 + 0.3 * min(tenure_years / 10, 1))
        * (1.2 if dp_member else 1.0)
    )


# --- determinism ------------------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_portal_and_another_seed_a_different_one() -> None:
    first = generate_portal(150, seed=3, today=TODAY)
    again = generate_portal(150, seed=3, today=TODAY)
    other = generate_portal(150, seed=4, today=TODAY)

    assert first.objects == again.objects
    assert first.associations == again.associations
    assert first.objects["companies"] != other.objects["companies"]
    assert first.objects["deals"] != other.objects["deals"]


def test_an_empty_portal_has_no_records_but_keeps_its_schema() -> None:
    empty = generate_portal(0, seed=1, today=TODAY)

    assert all(records == [] for records in empty.objects.values())
    assert empty.associations == []
    assert {p["label"] for p in schema.PIPELINES["deals"]} >= {"Pipeline delle vendite", "Wake Up Pipeline"}
    assert any(owner["email"] == "assistente.commerciale@sicomputer.it" for owner in schema.OWNERS)


def test_a_negative_number_of_companies_is_refused() -> None:
    with pytest.raises(ValueError):
        generate_portal(-1, seed=1, today=TODAY)


# --- the schema as HubSpot serves it ----------------------------------------------------------------------------


class _Response:
    """What hubspot-api-client's deserializer reads: the body of an HTTP response."""

    def __init__(self, body: Any) -> None:
        self.data = json.dumps(body)


def test_the_schema_deserializes_into_hubspot_api_clients_own_models() -> None:
    properties_client = properties_api.ApiClient()
    for object_type, definitions in schema.PROPERTIES.items():
        for definition in definitions:
            model = properties_client.deserialize(_Response(definition), "ModelProperty")
            assert model.name == definition["name"], object_type
        for group in schema.PROPERTY_GROUPS[object_type]:
            assert properties_client.deserialize(_Response(group), "PropertyGroup").name == group["name"]
    for pipeline in schema.PIPELINES["deals"]:
        model = pipelines_api.ApiClient().deserialize(_Response(pipeline), "Pipeline")
        assert [stage.metadata["isClosed"] for stage in model.stages]
    for owner in schema.OWNERS:
        assert owners_api.ApiClient().deserialize(_Response(owner), "PublicOwner").email == owner["email"]


def test_the_portal_has_about_fifteen_sales_reps_and_the_sales_assistant() -> None:
    emails = [owner["email"] for owner in schema.OWNERS]

    assert 12 <= len(schema.SALES_REP_IDS) <= 18
    assert emails.count("assistente.commerciale@sicomputer.it") == 1
    assert all(email.endswith("@sicomputer.it") for email in emails)
    assert len({owner["id"] for owner in schema.OWNERS}) == len(schema.OWNERS)


def test_the_deal_pipelines_carry_the_contract_labels_and_stage_metadata() -> None:
    pipelines = {p["label"]: p for p in schema.PIPELINES["deals"]}
    wakeup = {s["label"]: s["metadata"] for s in pipelines["Wake Up Pipeline"]["stages"]}

    assert list(wakeup) == [
        "Da contattare",
        "Contattato",
        "Interessato",
        "Appuntamento fissato",
        "Riattivato",
        "Non interessato",
    ]
    assert wakeup["Riattivato"] == {"isClosed": "true", "probability": "1.0"}
    assert wakeup["Non interessato"] == {"isClosed": "true", "probability": "0.0"}
    assert wakeup["Da contattare"]["isClosed"] == "false"
    for label in ("Pipeline delle vendite", "Sales management"):
        metadata = [s["metadata"] for s in pipelines[label]["stages"]]
        assert {"isClosed": "true", "probability": "1.0"} in metadata
        assert {"isClosed": "true", "probability": "0.0"} in metadata
        assert any(m["isClosed"] == "false" for m in metadata)
    stage_ids = [s["id"] for p in schema.PIPELINES["deals"] for s in p["stages"]]
    assert len(stage_ids) == len(set(stage_ids))


def test_the_contract_properties_exist_with_their_options() -> None:
    def options(object_type: str, name: str) -> list[str]:
        definition = next(d for d in schema.PROPERTIES[object_type] if d["name"] == name)
        return [option["value"] for option in definition["options"]]

    assert options("companies", "customer_category") == [
        "reseller",
        "system_integrator",
        "public_administration",
        "end_user",
        "other",
    ]
    assert options("companies", "dp_level") == ["none", "bronze", "silver", "gold"]
    assert options("companies", "ecommerce_account_status") == ["active", "suspended"]
    assert options("companies", "retention_segment") == ["active", "lukewarm", "cold", "lost", "never"]
    assert options("companies", "nurture_status") == ["active", "converted", "completed", "no_consent"]
    assert options("deals", "wakeup_appointment_kind") == ["teams_call", "visit"]
    assert "Legitimate interest – existing customer" in options("contacts", "hs_legal_basis")
    for object_type, names in {
        "companies": {
            "sirank",
            "last_purchase_date",
            "revenue_mtd",
            "revenue_prev_month",
            "revenue_ytd",
            "nurture_step",
            "available_credit",
            "cashback_available",
        },
        "contacts": {"email", "hs_email_optout", "hs_legal_basis", "firstname", "lastname", "company"},
        "deals": {"flywheel_key", "wakeup_appointment_at", "wakeup_notes", "closedate", "amount"},
        "tasks": {"flywheel_key", "hs_task_subject", "hs_timestamp", "hs_task_status"},
        "carts": {"hs_cart_name", "hs_total_price", "hs_currency_code", "hs_cart_url"},
        "line_items": {"name", "quantity", "price", "amount"},
    }.items():
        assert names <= schema.property_names(object_type), object_type
    for object_type in schema.OBJECT_TYPES:
        assert {"createdate", "hs_lastmodifieddate", "hs_object_id"} <= schema.property_names(object_type)


# --- internal consistency ---------------------------------------------------------------------------------------


def test_every_record_has_a_unique_numeric_id_per_object_type(portal: GeneratedPortal) -> None:
    for object_type, records in portal.objects.items():
        ids = [record["id"] for record in records]
        assert all(object_id.isdigit() for object_id in ids), object_type
        assert len(ids) == len(set(ids)), object_type
        assert all(record["properties"]["hs_object_id"] == record["id"] for record in records)


def test_every_property_used_is_defined_and_every_value_has_hubspots_string_shape(portal: GeneratedPortal) -> None:
    for object_type, records in portal.objects.items():
        definitions = {d["name"]: d for d in schema.PROPERTIES[object_type]}
        for record in records:
            for name, value in record["properties"].items():
                definition = definitions.get(name)
                assert definition is not None, f"{object_type}.{name} is not defined"
                assert isinstance(value, str)
                kind = definition["type"]
                if kind == "number":
                    assert NUMBER.match(value), (name, value)
                elif kind == "datetime":
                    assert DATETIME.match(value), (name, value)
                elif kind == "date":
                    assert DATE.match(value), (name, value)
                elif kind in ("enumeration", "bool"):
                    assert value in {o["value"] for o in definition["options"]}, (name, value)


def test_every_association_joins_two_records_that_exist(portal: GeneratedPortal) -> None:
    ids = {object_type: {r["id"] for r in records} for object_type, records in portal.objects.items()}
    pairs = Counter((from_type, to_type) for from_type, _, to_type, _ in portal.associations)

    for from_type, from_id, to_type, to_id in portal.associations:
        assert from_id in ids[from_type] and to_id in ids[to_type]
    assert len(set(portal.associations)) == len(portal.associations)
    assert {("contacts", "companies"), ("deals", "companies"), ("deals", "contacts")} <= set(pairs)
    assert {("carts", "companies"), ("line_items", "carts"), ("notes", "companies")} <= set(pairs)


def test_every_deal_belongs_to_one_company_and_sits_in_a_stage_of_its_pipeline(portal: GeneratedPortal) -> None:
    stages = {p["id"]: {s["id"] for s in p["stages"]} for p in schema.PIPELINES["deals"]}
    companies_of = Counter(
        f for f_type, f, t_type, _ in portal.associations if (f_type, t_type) == ("deals", "companies")
    )

    for deal in portal.objects["deals"]:
        properties = deal["properties"]
        assert properties["dealstage"] in stages[properties["pipeline"]]
        assert companies_of[deal["id"]] == 1


def test_every_company_has_one_to_three_contacts_with_unique_emails(portal: GeneratedPortal) -> None:
    contacts_per_company = Counter(
        to_id for f_type, _, t_type, to_id in portal.associations if (f_type, t_type) == ("contacts", "companies")
    )
    emails = [c["properties"]["email"] for c in portal.objects["contacts"] if "email" in c["properties"]]

    assert len(contacts_per_company) == COMPANIES
    assert set(contacts_per_company.values()) == {1, 2, 3}
    assert len(emails) == len(set(emails))


# --- the business it imitates -----------------------------------------------------------------------------------


def test_retention_segments_follow_the_intended_mix(portal: GeneratedPortal) -> None:
    orders = orders_by_company(portal)
    mix = Counter(
        segment((TODAY - max(day for day, _ in orders[c["id"]])).days if c["id"] in orders else None)
        for c in portal.objects["companies"]
    )
    share = {name: count / COMPANIES for name, count in mix.items()}

    # intended 30/12/30/15/8 of 95, normalised; 1,000 companies keep a draw within about 3 points
    assert share["active"] == pytest.approx(0.316, abs=0.05)
    assert share["lukewarm"] == pytest.approx(0.126, abs=0.04)
    assert share["cold"] == pytest.approx(0.316, abs=0.05)
    assert share["lost"] == pytest.approx(0.158, abs=0.04)
    assert share["never"] == pytest.approx(0.084, abs=0.03)


def test_about_seven_orders_per_company_with_a_long_tail_of_small_buyers(portal: GeneratedPortal) -> None:
    orders = orders_by_company(portal)
    revenue = sorted((sum(a for _, a in history) for history in orders.values()), reverse=True)
    top_tenth = sum(revenue[: len(revenue) // 10])
    amounts = [amount for history in orders.values() for _, amount in history]

    assert 6.0 <= sum(len(h) for h in orders.values()) / COMPANIES <= 9.0
    assert top_tenth / sum(revenue) > 0.4  # a few large customers make much of the revenue
    assert statistics.median(amounts) < statistics.mean(amounts)
    assert min(amounts) > 0


def test_orders_are_closed_within_five_years_before_today_on_working_days_in_office_hours(
    portal: GeneratedPortal,
) -> None:
    won = {schema.SALES_STAGE_WON_ID, schema.ECOMMERCE_STAGE_WON_ID}
    for deal in portal.objects["deals"]:
        properties = deal["properties"]
        if properties["dealstage"] not in won:
            continue
        closed = rome_time(properties["closedate"])
        assert TODAY - timedelta(days=HISTORY_DAYS) <= closed.date() < TODAY
        assert closed.weekday() < 5
        assert 8 <= closed.hour < 19


def test_some_quiet_companies_are_worth_a_recontact(portal: GeneratedPortal) -> None:
    orders = orders_by_company(portal)
    dp = {c["id"]: c["properties"]["dp_level"] != "none" for c in portal.objects["companies"]}
    quiet_and_valuable = [
        company_id
        for company_id, history in orders.items()
        if 120 < (TODAY - max(day for day, _ in history)).days < 365 and sirank(history, TODAY, dp[company_id]) > 5000
    ]

    assert len(quiet_and_valuable) >= 0.02 * COMPANIES


def test_companies_look_like_an_italian_it_distributors_customers(portal: GeneratedPortal) -> None:
    companies = [c["properties"] for c in portal.objects["companies"]]
    categories = Counter(c["customer_category"] for c in companies)
    provinces = {code for code, _ in schema.PROVINCES}

    assert (categories["reseller"] + categories["system_integrator"]) / COMPANIES > 0.6
    assert categories["public_administration"] > 0 and categories["end_user"] > 0
    assert all(c["province"] in provinces for c in companies if "province" in c)
    assert len({c["province"] for c in companies if "province" in c}) > 30
    assert all(c["hubspot_owner_id"] in schema.SALES_REP_IDS for c in companies)
    assert Counter(c["dp_level"] for c in companies).most_common(1)[0][0] == "none"
    suspended = sum(c["ecommerce_account_status"] == "suspended" for c in companies)
    assert 0 < suspended < 0.1 * COMPANIES
    assert any(float(c["available_credit"]) > 0 for c in companies)
    assert any(float(c["cashback_available"]) > 0 for c in companies)


def test_most_contacts_may_be_emailed_and_every_refusal_reason_occurs(portal: GeneratedPortal) -> None:
    reasons = Counter()
    for contact in portal.objects["contacts"]:
        properties = contact["properties"]
        if "email" not in properties:
            reasons["no_email"] += 1
        elif properties["hs_email_optout"] == "true":
            reasons["opted_out"] += 1
        elif not properties.get("hs_legal_basis"):
            reasons["no_legal_basis"] += 1
        else:
            reasons["may_email"] += 1

    assert reasons["may_email"] / len(portal.objects["contacts"]) > 0.7
    assert reasons["no_email"] > 0 and reasons["opted_out"] > 0 and reasons["no_legal_basis"] > 0


def test_some_companies_have_open_deals_in_each_order_pipeline_and_some_a_wake_up_deal(
    portal: GeneratedPortal,
) -> None:
    closed = {s["id"] for p in schema.PIPELINES["deals"] for s in p["stages"] if s["metadata"]["isClosed"] == "true"}
    open_by_pipeline = Counter(
        d["properties"]["pipeline"] for d in portal.objects["deals"] if d["properties"]["dealstage"] not in closed
    )

    assert open_by_pipeline[schema.SALES_PIPELINE_ID] > 0
    assert open_by_pipeline[schema.ECOMMERCE_PIPELINE_ID] > 0
    assert open_by_pipeline[schema.WAKEUP_PIPELINE_ID] > 0
    lost = [d for d in portal.objects["deals"] if d["properties"]["dealstage"] == schema.SALES_STAGE_LOST_ID]
    assert lost


def test_open_carts_have_line_items_that_add_up_to_their_total(portal: GeneratedPortal) -> None:
    lines = {line["id"]: line["properties"] for line in portal.objects["line_items"]}
    cart_lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    for from_type, from_id, to_type, to_id in portal.associations:
        if (from_type, to_type) == ("line_items", "carts"):
            cart_lines[to_id].append(lines[from_id])

    assert portal.objects["carts"]
    for cart in portal.objects["carts"]:
        items = cart_lines[cart["id"]]
        assert items
        assert float(cart["properties"]["hs_total_price"]) == pytest.approx(
            sum(float(i["quantity"]) * float(i["price"]) for i in items), abs=0.05
        )
        assert rome_date(cart["properties"]["hs_lastmodifieddate"]) < TODAY


@settings(max_examples=25, deadline=None)
@given(
    companies=st.integers(min_value=0, max_value=25),
    seed=st.integers(min_value=0, max_value=2**32),
    today=st.dates(min_value=date(2021, 1, 1), max_value=date(2035, 12, 31)),
)
def test_any_small_portal_is_consistent_whatever_the_seed_and_day(companies: int, seed: int, today: date) -> None:
    portal = generate_portal(companies, seed, today)
    ids = {object_type: {r["id"] for r in records} for object_type, records in portal.objects.items()}

    assert len(portal.objects["companies"]) == companies
    for from_type, from_id, to_type, to_id in portal.associations:
        assert from_id in ids[from_type] and to_id in ids[to_type]
    for history in orders_by_company(portal).values():
        for day, _ in history:
            assert today - timedelta(days=HISTORY_DAYS) <= day < today
    for profile in portal.profiles.values():
        assert profile.last_order is None or profile.last_order < today


def test_a_company_is_created_before_its_first_order(portal: GeneratedPortal) -> None:
    created = {c["id"]: rome_date(c["properties"]["createdate"]) for c in portal.objects["companies"]}

    for company_id, history in orders_by_company(portal).items():
        assert created[company_id] <= min(day for day, _ in history)
