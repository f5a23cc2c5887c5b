"""The Crm contract, checked on both implementations: the in-memory fake the unit tests use, and the HubSpot
adapter talking to a sandbox portal over real HTTP through hubspot-api-client.

Both are seeded with the same records through one small helper (`Portal.add`), which names every record by a
label, so that the checks compare labels, never ids. The memory portal copies the sandbox portal's owners and
pipelines, ids included. Every method of the port is covered: owners, pipelines, list_pages (paging, associations,
archived), search_pages (operators, AND, ascending hs_object_id order, paging, case-insensitive text), read_batch,
update_batch (refusals), create with associations, associated_ids, find_by_values, and the count of
HTTP calls each makes. A property test throws random filters at both and asks for the same answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.domain.models import CrmRecord, Page
from flywheel.ports import AssociationTarget, CrmError, Filter, RecordRefusal
from sandbox import schema

MISSING_ID = "987654321"  # no record of any type has it, on either portal


# --- the two portals -------------------------------------------------------------------------------------------


class Portal:
    """One Crm implementation and its seeded records, named by label."""

    kind: str
    crm: Any

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self._labels: dict[tuple[str, str], str] = {}

    def add(
        self, object_type: str, label: str, properties: Mapping[str, str], links: Sequence[tuple[str, str]] = ()
    ) -> str:
        """A record seeded as it is (no call counted); `links` are (to-object type, label) pairs."""
        record_id = self._insert(object_type, properties, [(to_type, self.ids[to]) for to_type, to in links])
        self.ids[label] = record_id
        self._labels[(object_type, record_id)] = label
        return record_id

    def archive(self, object_type: str, label: str) -> None:
        raise NotImplementedError

    def property_of(self, object_type: str, label: str, name: str) -> str | None:
        """A property as stored, read behind the port's back (no call counted)."""
        raise NotImplementedError

    def label(self, object_type: str, record_id: str) -> str:
        return self._labels.get((object_type, record_id), f"<unknown {object_type} {record_id}>")

    def labels(self, object_type: str, records: Sequence[CrmRecord]) -> list[str]:
        return [self.label(object_type, record.id) for record in records]

    def learn(self, object_type: str, label: str, record_id: str) -> None:
        """Name a record the port created."""
        self.ids[label] = record_id
        self._labels[(object_type, record_id)] = label

    def _insert(self, object_type: str, properties: Mapping[str, str], links: Sequence[tuple[str, str]]) -> str:
        raise NotImplementedError


class MemoryPortal(Portal):
    kind = "memory"

    def __init__(self, now: datetime) -> None:
        super().__init__()
        self.crm = MemoryCrm(now=lambda: now)
        for owner in schema.OWNERS:
            self.crm.add_owner(owner["email"], owner["firstName"], owner["lastName"], owner_id=owner["id"])
        for object_type, pipelines in schema.PIPELINES.items():
            for pipeline in pipelines:
                stages = sorted(pipeline["stages"], key=lambda s: s["displayOrder"])
                self.crm.add_pipeline(
                    pipeline["label"],
                    [
                        (s["label"], s["metadata"]["isClosed"] == "true", float(s["metadata"]["probability"]))
                        for s in stages
                    ],
                    object_type=object_type,
                    pipeline_id=pipeline["id"],
                    stage_ids=[s["id"] for s in stages],
                )

    def archive(self, object_type: str, label: str) -> None:
        self.crm.archive(object_type, self.ids[label])

    def property_of(self, object_type: str, label: str, name: str) -> str | None:
        value: str | None = self.crm.get(object_type, self.ids[label]).prop(name)
        return value

    def _insert(self, object_type: str, properties: Mapping[str, str], links: Sequence[tuple[str, str]]) -> str:
        by_type: dict[str, list[str]] = defaultdict(list)
        for to_type, to_id in links:
            by_type[to_type].append(to_id)
        record_id: str = self.crm.add(object_type, properties, by_type)
        return record_id


class SandboxPortal(Portal):
    kind = "hubspot"

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server
        self.crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)

    def archive(self, object_type: str, label: str) -> None:
        self.server.store.archive_object(object_type, self.ids[label])

    def property_of(self, object_type: str, label: str, name: str) -> str | None:
        value = self.server.store.get_properties(object_type, self.ids[label]).get(name)
        return None if value in (None, "") else str(value)

    def _insert(self, object_type: str, properties: Mapping[str, str], links: Sequence[tuple[str, str]]) -> str:
        record_id: str = self.server.store.create_object(object_type, properties, links)
        return record_id


PortalFactory = Callable[[], Portal]


@pytest.fixture(params=["memory", pytest.param("hubspot", marks=pytest.mark.sandbox)])
def new_portal(request: pytest.FixtureRequest, now: datetime) -> PortalFactory:
    """Builds empty portals (schema, owners and pipelines only) of one implementation."""
    if request.param == "memory":
        return lambda: MemoryPortal(now)
    sandbox_factory = request.getfixturevalue("sandbox_factory")
    return lambda: SandboxPortal(sandbox_factory())


@pytest.fixture
def portal(new_portal: PortalFactory) -> Portal:
    return new_portal()


@pytest.fixture
def world(portal: Portal) -> Portal:
    """The portal with the standard records of this module (see `seed_world`)."""
    seed_world(portal)
    return portal


# label -> (object type, properties, associations as (to-object type, label)), created in this order
WORLD: dict[str, tuple[str, dict[str, str], list[tuple[str, str]]]] = {
    "rossi": (
        "companies",
        {
            "name": "Rossi Informatica S.r.l.",
            "province": "MI",
            "sirank": "6200",
            "last_purchase_date": "2026-05-04",
            "customer_category": "reseller",
            "phone": "0212345678",
            "hubspot_owner_id": schema.SALES_REP_IDS[0],
        },
        [],
    ),
    "bianchi": (
        "companies",
        {
            "name": "Bianchi Sistemi",
            "province": "RM",
            "sirank": "150.5",
            "last_purchase_date": "2025-11-30",
            "customer_category": "system_integrator",
            "phone": "99",
            "hubspot_owner_id": schema.SALES_REP_IDS[1],
        },
        [],
    ),
    "verdi": (
        "companies",
        {"name": "VERDI SPA", "province": "mi", "sirank": "0", "customer_category": "end_user", "phone": "+39 06 1234"},
        [],
    ),
    "neri": ("companies", {"name": "Neri & Figli", "customer_category": "public_administration"}, []),
    "gialli": (
        "companies",
        {
            "name": "gialli srl",
            "province": "TO",
            "sirank": "-20",
            "last_purchase_date": "2024-02-29",
            "customer_category": "other",
            "phone": "212345678",
        },
        [],
    ),
    "archiviata": ("companies", {"name": "Archiviata", "province": "MI", "sirank": "9999"}, []),
    "mario": ("contacts", {"email": "Mario.Verdi@Example.it", "firstname": "Mario"}, [("companies", "rossi")]),
    "anna": (
        "contacts",
        {"email": "anna@example.it", "firstname": "Anna"},
        [("companies", "rossi"), ("companies", "bianchi")],
    ),
    "luca": ("contacts", {"email": "luca@example.it", "firstname": "Luca"}, []),
    "ex": ("contacts", {"email": "ex@example.it", "firstname": "Ex"}, [("companies", "rossi")]),
    "order-rossi": (
        "deals",
        {
            "dealname": "Ordine Rossi",
            "amount": "1250.5",
            "pipeline": schema.SALES_PIPELINE_ID,
            "dealstage": schema.SALES_STAGE_WON_ID,
            "closedate": "2026-05-04T08:00:00.000Z",
        },
        [("companies", "rossi"), ("contacts", "mario")],
    ),
    "order-bianchi": (
        "deals",
        {
            "dealname": "Ordine Bianchi",
            "amount": "99",
            "pipeline": schema.ECOMMERCE_PIPELINE_ID,
            "dealstage": schema.ECOMMERCE_STAGE_WON_ID,
            "closedate": "2025-11-30T10:00:00.000Z",
        },
        [("companies", "bianchi")],
    ),
    "gone-deal": (
        "deals",
        {"dealname": "Annullata", "amount": "5", "pipeline": "default", "dealstage": schema.SALES_STAGE_LOST_ID},
        [("companies", "rossi")],
    ),
    "task-rossi": (
        "tasks",
        {"hs_task_subject": "Richiamare", "flywheel_key": "cold_segment:rossi:2026-11"},
        [("companies", "rossi"), ("deals", "order-rossi")],
    ),
    "task-verdi": (
        "tasks",
        {"hs_task_subject": "Visita", "flywheel_key": "Cold_Segment:Verdi:2026-11"},
        [("companies", "verdi")],
    ),
}
ARCHIVED = ("archiviata", "ex", "gone-deal")


def seed_world(portal: Portal) -> None:
    """The records of WORLD: a few companies with contacts, deals and tasks; one of each archived."""
    for label, (object_type, properties, links) in WORLD.items():
        portal.add(object_type, label, properties, links)
    for label in ARCHIVED:
        portal.archive(WORLD[label][0], label)


def calls_of(portal: Portal, action: Callable[[], Any]) -> tuple[Any, int]:
    """What `action` returns, and the HTTP calls it made."""
    before = portal.crm.calls_made
    result = action()
    return result, portal.crm.calls_made - before


def pages_of(portal: Portal, pages: Iterator[Page]) -> tuple[list[Page], int]:
    collected: list[Page]
    collected, calls = calls_of(portal, lambda: list(pages))
    return collected, calls


def records_of(pages: Sequence[Page]) -> list[CrmRecord]:
    return [record for page in pages for record in page.records]


def search(portal: Portal, object_type: str, *filters: Filter) -> list[str]:
    return portal.labels(object_type, records_of(list(portal.crm.search_pages(object_type, filters, []))))


def seed_companies(portal: Portal, count: int, **properties: str) -> list[str]:
    return [portal.add("companies", f"azienda-{n}", {"name": f"Azienda {n:03d}", **properties}) for n in range(count)]


# --- owners and pipelines --------------------------------------------------------------------------------------


def test_owners_are_every_active_owner_in_one_call(portal: Portal) -> None:
    owners, calls = calls_of(portal, portal.crm.owners)

    assert sorted((o.id, o.email, o.first_name, o.last_name) for o in owners) == sorted(
        (o["id"], o["email"], o["firstName"], o["lastName"]) for o in schema.OWNERS
    )
    assert calls == 1


def test_deal_pipelines_come_with_their_stages_in_display_order(portal: Portal) -> None:
    pipelines, calls = calls_of(portal, lambda: portal.crm.pipelines("deals"))

    wake_up = next(p for p in pipelines if p.id == schema.WAKEUP_PIPELINE_ID)
    assert [p.label for p in pipelines] == ["Pipeline delle vendite", "Sales management", "Wake Up Pipeline"]
    assert [s.label for s in wake_up.stages][:2] == ["Da contattare", "Contattato"]
    assert [(s.id, s.is_closed, s.is_won) for s in wake_up.stages][-2:] == [
        (schema.WAKEUP_STAGE_WON_ID, True, True),
        (schema.WAKEUP_STAGE_LOST_ID, True, False),
    ]
    assert calls == 1


# --- list_pages ------------------------------------------------------------------------------------------------


def test_listing_goes_100_a_page_in_id_order_and_resumes_from_a_page_cursor(portal: Portal) -> None:
    seed_companies(portal, 250)

    pages, calls = pages_of(portal, portal.crm.list_pages("companies", ["name"]))
    resumed = list(portal.crm.list_pages("companies", ["name"], after=pages[1].after))

    assert [len(page.records) for page in pages] == [100, 100, 50]
    assert [page.after is None for page in pages] == [False, False, True]
    assert [r.prop("name") for r in records_of(pages)] == [f"Azienda {n:03d}" for n in range(250)]
    assert calls == 3
    assert records_of(resumed) == records_of(pages)[200:]


def test_a_listing_of_exactly_one_page_is_one_call_without_a_cursor(portal: Portal) -> None:
    seed_companies(portal, 100)

    pages, calls = pages_of(portal, portal.crm.list_pages("companies", []))

    assert [(len(page.records), page.after) for page in pages] == [(100, None)]
    assert calls == 1


def test_an_empty_listing_is_one_empty_page(portal: Portal) -> None:
    pages, calls = pages_of(portal, portal.crm.list_pages("notes", []))

    assert [(page.records, page.after) for page in pages] == [((), None)]
    assert calls == 1


def test_a_listing_leaves_archived_records_out_unless_it_asks_for_them(world: Portal) -> None:
    live = records_of(list(world.crm.list_pages("companies", ["name"])))
    archived = records_of(list(world.crm.list_pages("companies", ["name"], archived=True)))

    assert world.labels("companies", live) == ["rossi", "bianchi", "verdi", "neri", "gialli"]
    assert world.labels("companies", archived) == ["archiviata"]
    assert [r.archived for r in archived] == [True]


def test_a_listing_reads_the_asked_properties_and_the_record_id(world: Portal) -> None:
    (page,) = list(world.crm.list_pages("companies", ["name", "sirank", "province"]))
    neri = next(r for r in page.records if world.label("companies", r.id) == "neri")

    assert neri.prop("name") == "Neri & Figli"
    assert neri.prop("sirank") is None and neri.prop("province") is None
    assert neri.prop("hs_object_id") == neri.id
    assert neri.prop("createdate") is not None


def test_a_listing_with_associations_gives_each_record_its_live_associated_ids(world: Portal) -> None:
    (page,) = list(world.crm.list_pages("companies", ["name"], associations=["contacts", "deals"]))
    by_label = {world.label("companies", r.id): r for r in page.records}

    def associated(label: str, to_type: str) -> list[str]:
        return sorted(world.label(to_type, i) for i in by_label[label].associations.get(to_type, ()))

    assert associated("rossi", "contacts") == ["anna", "mario"]  # not the archived "ex"
    assert associated("rossi", "deals") == ["order-rossi"]  # not the archived "gone-deal"
    assert associated("bianchi", "contacts") == ["anna"]
    assert associated("neri", "contacts") == []
    # a type the listing asked for is there even when a record has none of it
    assert by_label["neri"].associations["contacts"] == ()
    assert set(by_label["rossi"].associations) == {"contacts", "deals"}


def test_a_listing_may_name_associations_by_their_singular_type(world: Portal) -> None:
    (page,) = list(world.crm.list_pages("contacts", [], associations=["company"]))
    by_label = {world.label("contacts", r.id): r for r in page.records}

    assert sorted(world.label("companies", i) for i in by_label["anna"].associations["companies"]) == [
        "bianchi",
        "rossi",
    ]


# --- search_pages ----------------------------------------------------------------------------------------------


def test_a_search_without_filters_finds_every_live_record(world: Portal) -> None:
    assert search(world, "companies") == ["rossi", "bianchi", "verdi", "neri", "gialli"]


def test_filters_are_anded(world: Portal) -> None:
    found = search(world, "companies", Filter("province", "EQ", "MI"), Filter("sirank", "GT", "100"))

    assert found == ["rossi"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter("province", "EQ", "mi"), ["rossi", "verdi"]),  # text compares without case
        (Filter("name", "EQ", "verdi spa"), ["verdi"]),
        (Filter("province", "NEQ", "MI"), ["bianchi", "neri", "gialli"]),  # without a value: not equal
        (Filter("province", "IN", values=("rm", "To")), ["bianchi", "gialli"]),
        (Filter("province", "NOT_IN", values=("MI", "RM")), ["neri", "gialli"]),
        (Filter("province", "HAS_PROPERTY"), ["rossi", "bianchi", "verdi", "gialli"]),
        (Filter("province", "NOT_HAS_PROPERTY"), ["neri"]),
        (Filter("sirank", "GT", "0"), ["rossi", "bianchi"]),
        (Filter("sirank", "GTE", "0"), ["rossi", "bianchi", "verdi"]),
        (Filter("sirank", "LT", "150.5"), ["verdi", "gialli"]),
        (Filter("sirank", "LTE", "150.50"), ["bianchi", "verdi", "gialli"]),
        (Filter("sirank", "EQ", "6200.0"), ["rossi"]),
        (Filter("sirank", "BETWEEN", "-20", high_value="150.5"), ["bianchi", "verdi", "gialli"]),
        (Filter("sirank", "IN", values=("0", "6200")), ["rossi", "verdi"]),
        (Filter("last_purchase_date", "LT", "2026-01-01"), ["bianchi", "gialli"]),
        (Filter("last_purchase_date", "GTE", "1764460800000"), ["rossi", "bianchi"]),  # 2025-11-30 in epoch ms
        (Filter("last_purchase_date", "BETWEEN", "2024-02-29", high_value="2025-11-30"), ["bianchi", "gialli"]),
        (Filter("customer_category", "IN", values=("reseller", "other")), ["rossi", "gialli"]),
        # a string property compares as text, even when its values look like numbers
        (Filter("phone", "EQ", "212345678"), ["gialli"]),
        (Filter("phone", "LT", "1"), ["rossi", "verdi"]),
        (Filter("phone", "GT", "3"), ["bianchi"]),
    ],
)
def test_each_operator_filters_as_hubspot_does(world: Portal, flt: Filter, expected: list[str]) -> None:
    assert search(world, "companies", flt) == expected


def test_a_search_filters_on_the_record_id_and_on_associations(world: Portal) -> None:
    rossi, bianchi = world.ids["rossi"], world.ids["bianchi"]

    assert search(world, "companies", Filter("hs_object_id", "GT", rossi)) == ["bianchi", "verdi", "neri", "gialli"]
    assert search(world, "companies", Filter("hs_object_id", "IN", values=(bianchi, rossi))) == ["rossi", "bianchi"]
    assert search(world, "contacts", Filter("associations.company", "EQ", rossi)) == ["mario", "anna"]
    assert search(world, "deals", Filter("associations.company", "IN", values=(rossi, bianchi))) == [
        "order-rossi",
        "order-bianchi",
    ]


def test_a_search_never_finds_archived_records(world: Portal) -> None:
    assert search(world, "companies", Filter("name", "EQ", "Archiviata")) == []
    assert search(world, "deals", Filter("dealstage", "EQ", "closedlost")) == []


def test_a_search_reads_the_asked_properties(world: Portal) -> None:
    (page,) = list(world.crm.search_pages("deals", [Filter("amount", "GT", "100")], ["dealname", "amount"]))
    (record,) = page.records

    assert world.label("deals", record.id) == "order-rossi"
    assert (record.prop("dealname"), record.prop("amount"), record.prop("hs_object_id")) == (
        "Ordine Rossi",
        "1250.5",
        record.id,
    )


def test_a_search_goes_200_a_page_in_id_order_and_resumes_from_a_page_cursor(portal: Portal) -> None:
    seed_companies(portal, 450, province="MI")
    portal.add("companies", "elsewhere", {"name": "Altrove", "province": "RM"})
    filters = [Filter("province", "EQ", "MI")]

    pages, calls = pages_of(portal, portal.crm.search_pages("companies", filters, ["name"]))
    resumed = list(portal.crm.search_pages("companies", filters, ["name"], after=pages[0].after))

    assert [len(page.records) for page in pages] == [200, 200, 50]
    assert [page.after is None for page in pages] == [False, False, True]
    assert [r.prop("name") for r in records_of(pages)] == [f"Azienda {n:03d}" for n in range(450)]
    assert calls == 3
    assert records_of(resumed) == records_of(pages)[200:]


def test_a_search_of_exactly_one_page_is_one_call(portal: Portal) -> None:
    seed_companies(portal, 200)

    pages, calls = pages_of(portal, portal.crm.search_pages("companies", [], []))

    assert [(len(page.records), page.after) for page in pages] == [(200, None)]
    assert calls == 1


def test_a_search_that_finds_nothing_is_one_empty_page(world: Portal) -> None:
    pages, calls = pages_of(world, world.crm.search_pages("companies", [Filter("province", "EQ", "ZZ")], []))

    assert [(page.records, page.after) for page in pages] == [((), None)]
    assert calls == 1


@pytest.mark.parametrize(
    "flt",
    [
        Filter("province", "LIKE", "MI"),
        Filter("province", "IN"),
        Filter("sirank", "BETWEEN", "1"),
        Filter("province", "EQ"),
    ],
)
def test_a_malformed_filter_is_refused_with_a_400(world: Portal, flt: Filter) -> None:
    with pytest.raises(CrmError) as refused:
        list(world.crm.search_pages("companies", [flt], []))

    assert refused.value.status == 400 and not refused.value.transient


# --- read_batch ------------------------------------------------------------------------------------------------


def test_a_batch_read_returns_the_records_asked_for_leaving_out_missing_and_archived_ids(world: Portal) -> None:
    ids = [world.ids["gialli"], MISSING_ID, world.ids["archiviata"], world.ids["rossi"], world.ids["gialli"]]

    records, calls = calls_of(world, lambda: world.crm.read_batch("companies", ids, ["name", "sirank"]))

    assert world.labels("companies", records) == ["gialli", "rossi"]
    assert [(r.prop("name"), r.prop("sirank")) for r in records] == [
        ("gialli srl", "-20"),
        ("Rossi Informatica S.r.l.", "6200"),
    ]
    assert calls == 1


def test_a_batch_read_goes_100_ids_a_call(portal: Portal) -> None:
    ids = seed_companies(portal, 150)

    records, calls = calls_of(portal, lambda: portal.crm.read_batch("companies", ids, ["name"]))
    _, none_asked = calls_of(portal, lambda: portal.crm.read_batch("companies", [], ["name"]))

    assert [r.id for r in records] == ids
    assert calls == 2
    assert none_asked == 0


def test_a_batch_read_of_ids_none_of_which_exists_is_empty(world: Portal) -> None:
    assert world.crm.read_batch("companies", [MISSING_ID, world.ids["archiviata"]], ["name"]) == []


# --- update_batch ----------------------------------------------------------------------------------------------


def test_an_update_applies_every_known_record_and_refuses_the_unknown_ones_alone(world: Portal) -> None:
    updates = [
        (world.ids["rossi"], {"sirank": "7000"}),
        (MISSING_ID, {"sirank": "1"}),
        (world.ids["archiviata"], {"sirank": "2"}),
        (world.ids["verdi"], {"province": "RM", "retention_segment": "cold"}),
    ]

    refusals, calls = calls_of(world, lambda: world.crm.update_batch("companies", updates))

    assert sorted((r.record_id, r.status) for r in refusals) == sorted(
        [(MISSING_ID, 404), (world.ids["archiviata"], 404)]
    )
    assert all(isinstance(r, RecordRefusal) and r.reason for r in refusals)
    assert calls == 1
    assert world.property_of("companies", "rossi", "sirank") == "7000"
    assert world.property_of("companies", "verdi", "province") == "RM"
    assert world.property_of("companies", "verdi", "retention_segment") == "cold"
    assert world.property_of("companies", "archiviata", "sirank") == "9999"
    assert search(world, "companies", Filter("province", "EQ", "RM")) == ["bianchi", "verdi"]


def test_an_invalid_value_is_refused_for_its_record_alone_and_the_others_are_applied(world: Portal) -> None:
    updates = [
        (world.ids["rossi"], {"sirank": "1"}),
        (world.ids["bianchi"], {"sirank": "molto"}),
        (world.ids["verdi"], {"last_purchase_date": "2026-05-04T10:00:00Z"}),  # a date is midnight UTC
        (world.ids["gialli"], {"sirank": "4"}),
        (MISSING_ID, {"sirank": "5"}),
    ]

    refusals, calls = calls_of(world, lambda: world.crm.update_batch("companies", updates))

    assert sorted((world.label("companies", r.record_id), r.status) for r in refusals) == [
        (f"<unknown companies {MISSING_ID}>", 404),
        ("bianchi", 400),
        ("verdi", 400),
    ]
    # refused whole, the batch is halved until each bad record stands alone: 5 -> 2 + 3, 2 -> 1 + 1, 3 -> 1 + 2
    assert calls == 7
    assert [world.property_of("companies", label, "sirank") for label in ("rossi", "bianchi", "gialli")] == [
        "1",
        "150.5",
        "4",
    ]
    assert world.property_of("companies", "verdi", "last_purchase_date") is None


def test_a_create_with_an_invalid_value_is_refused(world: Portal) -> None:
    with pytest.raises(CrmError) as refused:
        world.crm.create("deals", {"dealname": "Importo sbagliato", "amount": "mille"})

    assert refused.value.status == 400 and not refused.value.transient
    assert search(world, "deals", Filter("dealname", "EQ", "Importo sbagliato")) == []


def test_an_update_that_empties_a_property_removes_its_value(world: Portal) -> None:
    assert world.crm.update_batch("companies", [(world.ids["rossi"], {"province": ""})]) == []

    assert world.property_of("companies", "rossi", "province") is None
    assert search(world, "companies", Filter("province", "NOT_HAS_PROPERTY")) == ["rossi", "neri"]


def test_an_update_goes_100_records_a_call_and_later_values_of_a_record_win(portal: Portal) -> None:
    ids = seed_companies(portal, 150)
    updates = [(i, {"sirank": "1"}) for i in ids] + [(ids[0], {"sirank": "2"})]

    refusals, calls = calls_of(portal, lambda: portal.crm.update_batch("companies", updates))
    _, none_asked = calls_of(portal, lambda: portal.crm.update_batch("companies", []))

    assert refusals == []
    assert calls == 2
    assert none_asked == 0
    assert portal.property_of("companies", "azienda-0", "sirank") == "2"
    assert portal.property_of("companies", "azienda-149", "sirank") == "1"


# --- create ----------------------------------------------------------------------------------------------------


def test_a_create_returns_the_new_record_with_its_id_stamps_and_associations(world: Portal, now: datetime) -> None:
    targets = [AssociationTarget("companies", world.ids["rossi"]), AssociationTarget("contacts", world.ids["mario"])]
    properties = {"dealname": "Wake Up Rossi", "pipeline": schema.WAKEUP_PIPELINE_ID,
                  "dealstage": schema.WAKEUP_STAGE_NEW_ID, "flywheel_key": "cold_segment:rossi:2026-12"}  # fmt: skip

    record, calls = calls_of(world, lambda: world.crm.create("deals", properties, targets))
    world.learn("deals", "wake-up", record.id)

    assert calls == 1
    assert {name: record.prop(name) for name in properties} == properties
    assert record.prop("hs_object_id") == record.id
    assert record.prop("createdate") == now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert {k: sorted(v) for k, v in record.associations.items()} == {
        "companies": [world.ids["rossi"]],
        "contacts": [world.ids["mario"]],
    }
    # readable from both ends, and found by search at once (the sandbox has no search lag here)
    assert world.labels("deals", world.crm.read_batch("deals", [record.id], ["dealname"])) == ["wake-up"]
    assert world.crm.associated_ids("companies", "deals", [world.ids["rossi"]]) == {
        world.ids["rossi"]: [world.ids["order-rossi"], record.id]
    }
    assert search(world, "deals", Filter("flywheel_key", "EQ", "cold_segment:rossi:2026-12")) == ["wake-up"]


@pytest.mark.parametrize(
    ("object_type", "properties", "to_types"),
    [
        ("tasks", {"hs_task_subject": "Richiamare"}, ["companies", "deals", "contacts"]),
        ("notes", {"hs_note_body": "Nota"}, ["companies", "deals", "contacts"]),
        ("calls", {"hs_call_title": "Chiamata"}, ["companies", "deals", "contacts"]),
        ("emails", {"hs_email_subject": "Email"}, ["companies", "deals", "contacts"]),
        ("meetings", {"hs_meeting_title": "Incontro"}, ["companies", "deals", "contacts"]),
        ("contacts", {"email": "nuovo@example.it"}, ["companies", "deals"]),
        ("companies", {"name": "Nuova"}, ["contacts", "deals"]),
    ],
)
def test_a_create_with_default_associations_takes_one_call_for_every_documented_pair(
    world: Portal, object_type: str, properties: dict[str, str], to_types: list[str]
) -> None:
    to_label = {"companies": "bianchi", "deals": "order-bianchi", "contacts": "anna"}
    targets = [AssociationTarget(to_type, world.ids[to_label[to_type]]) for to_type in to_types]

    record, calls = calls_of(world, lambda: world.crm.create(object_type, properties, targets))

    assert calls == 1
    for to_type in to_types:
        linked = world.crm.associated_ids(to_type, object_type, [world.ids[to_label[to_type]]])
        assert record.id in linked[world.ids[to_label[to_type]]]


def test_a_create_associated_with_a_missing_record_is_refused_and_creates_nothing(world: Portal) -> None:
    with pytest.raises(CrmError) as refused:
        world.crm.create("tasks", {"hs_task_subject": "Orfano"}, [AssociationTarget("companies", MISSING_ID)])

    assert refused.value.status == 400 and not refused.value.transient
    assert search(world, "tasks", Filter("hs_task_subject", "EQ", "Orfano")) == []


# --- associated_ids --------------------------------------------------------------------------------------------


def test_associated_ids_are_read_for_every_id_asked_live_records_only(world: Portal) -> None:
    ids = [world.ids["rossi"], world.ids["neri"], world.ids["bianchi"], MISSING_ID]

    linked, calls = calls_of(world, lambda: world.crm.associated_ids("companies", "contacts", ids))

    assert {world.label("companies", k): sorted(world.label("contacts", i) for i in v) for k, v in linked.items()} == {
        "rossi": ["anna", "mario"],
        "neri": [],
        "bianchi": ["anna"],
        f"<unknown companies {MISSING_ID}>": [],
    }
    assert calls == 1


def test_associated_ids_read_both_ends_and_take_a_singular_type(world: Portal) -> None:
    from_deal = world.crm.associated_ids("deals", "company", [world.ids["order-rossi"]])
    from_task = world.crm.associated_ids("tasks", "deals", [world.ids["task-rossi"]])
    to_task = world.crm.associated_ids("deals", "tasks", [world.ids["order-rossi"]])

    assert from_deal == {world.ids["order-rossi"]: [world.ids["rossi"]]}
    assert from_task == {world.ids["task-rossi"]: [world.ids["order-rossi"]]}
    assert to_task == {world.ids["order-rossi"]: [world.ids["task-rossi"]]}


def test_associated_ids_go_100_ids_a_call(portal: Portal) -> None:
    ids = seed_companies(portal, 150)

    linked, calls = calls_of(portal, lambda: portal.crm.associated_ids("companies", "deals", ids))

    assert linked == {i: [] for i in ids}
    assert calls == 2


# --- find_by_values -------------------------------------------------------------------------------


def test_find_by_values_finds_a_record_by_a_property_ignoring_case(world: Portal) -> None:
    key = "COLD_SEGMENT:ROSSI:2026-11"
    found, calls = calls_of(world, lambda: world.crm.find_by_values("tasks", "flywheel_key", [key]).get(key))

    assert found is not None
    assert world.label("tasks", found.id) == "task-rossi"
    assert found.prop("flywheel_key") == "cold_segment:rossi:2026-11"
    assert calls == 1
    assert world.crm.find_by_values("tasks", "flywheel_key", ["nurture:rossi:1"]).get("nurture:rossi:1") is None


def test_find_by_values_never_finds_an_archived_record(world: Portal) -> None:
    assert world.crm.find_by_values("companies", "name", ["Archiviata"]).get("Archiviata") is None


def test_find_by_values_maps_each_value_asked_for_to_its_record(world: Portal) -> None:
    values = ["cold_segment:verdi:2026-11", "cold_segment:rossi:2026-11", "nurture:neri:3"]

    found, calls = calls_of(world, lambda: world.crm.find_by_values("tasks", "flywheel_key", values))

    assert {value: world.label("tasks", record.id) for value, record in found.items()} == {
        "cold_segment:verdi:2026-11": "task-verdi",
        "cold_segment:rossi:2026-11": "task-rossi",
    }
    assert calls == 1


def test_find_by_values_searches_100_values_a_call_and_nothing_for_no_values(portal: Portal) -> None:
    ids = seed_companies(portal, 150)
    names = [f"Azienda {n:03d}" for n in range(150)]

    found, calls = calls_of(portal, lambda: portal.crm.find_by_values("companies", "name", names))
    nothing, no_calls = calls_of(portal, lambda: portal.crm.find_by_values("companies", "name", []))

    assert {name: record.id for name, record in found.items()} == dict(zip(names, ids, strict=True))
    assert calls == 2
    assert (nothing, no_calls) == ({}, 0)


# --- unknown object types --------------------------------------------------------------------------------------


def test_an_unknown_object_type_is_refused_with_a_400(portal: Portal) -> None:
    with pytest.raises(CrmError) as refused:
        list(portal.crm.list_pages("spaceships", []))

    assert refused.value.status == 400 and not refused.value.transient


# --- random filters on both ------------------------------------------------------------------------------------

# values near the seeded ones, so that random filters hit records, miss them and land on their edges
_TEXT = st.sampled_from(["MI", "mi", "Mi", "RM", "to", "ZZ", "", "Rossi Informatica S.r.l.", "verdi spa", "m", "n"])
_NUMBER = st.sampled_from(["-20", "0", "0.0", "150.5", "150.50", "151", "6200", "1e3", "-1", "99999"])
_DATE = st.sampled_from(
    ["2024-02-29", "2025-11-30", "2026-05-04", "2026-05-05", "2020-01-01", "1764460800000", "1709164800000"]
)
_CATEGORY = st.sampled_from(["reseller", "RESELLER", "other", "end_user", "system_integrator", "none"])
_PHONE = st.sampled_from(["0212345678", "212345678", "99", "+39 06 1234", "1", "3", "099"])
_PROPERTIES: dict[str, st.SearchStrategy[str]] = {
    "province": _TEXT,
    "name": _TEXT,
    "sirank": _NUMBER,
    "last_purchase_date": _DATE,
    "customer_category": _CATEGORY,
    "phone": _PHONE,
}
_ORDERED = ("LT", "LTE", "GT", "GTE", "EQ", "NEQ")


@st.composite
def random_filter(draw: st.DrawFn) -> Filter:
    name = draw(st.sampled_from(sorted(_PROPERTIES)))
    values = _PROPERTIES[name].filter(bool)
    operator = draw(st.sampled_from([*_ORDERED, "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"]))
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Filter(name, operator)
    if operator in ("IN", "NOT_IN"):
        return Filter(name, operator, values=tuple(draw(st.lists(values, min_size=1, max_size=3))))
    if operator == "BETWEEN":
        return Filter(name, operator, draw(values), high_value=draw(values))
    return Filter(name, operator, draw(values))


@pytest.fixture
def twins(sandbox_factory: Callable[..., Any], now: datetime) -> tuple[Portal, Portal]:
    """The memory portal and the sandbox portal, seeded with the same world."""
    memory, hubspot = MemoryPortal(now), SandboxPortal(sandbox_factory())
    seed_world(memory)
    seed_world(hubspot)
    return memory, hubspot


@pytest.mark.sandbox
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=st.lists(random_filter(), min_size=1, max_size=3))
def test_random_filters_find_the_same_companies_on_both(twins: tuple[Portal, Portal], filters: list[Filter]) -> None:
    memory, hubspot = twins

    assert search(memory, "companies", *filters) == search(hubspot, "companies", *filters)


# --- association type ids --------------------------------------------------------------------------------------

# HubSpot's documented HUBSPOT_DEFINED association type ids between the port's object types, from -> to ("Associate
# records", v4 associations API guide, section "Association type IDs"; developers.hubspot.com, checked against the
# version last modified on 30 March 2026). Carts with companies is not documented; carts -> tasks is documented
# without its inverse.
DOCUMENTED_DEFAULT_TYPE_IDS: dict[tuple[str, str], int] = {
    ("companies", "contacts"): 280, ("companies", "deals"): 342, ("companies", "tasks"): 191,
    ("companies", "notes"): 189, ("companies", "calls"): 181, ("companies", "emails"): 185,
    ("companies", "meetings"): 187,
    ("contacts", "companies"): 279, ("contacts", "deals"): 4, ("contacts", "tasks"): 203, ("contacts", "notes"): 201,
    ("contacts", "calls"): 193, ("contacts", "emails"): 197, ("contacts", "meetings"): 199, ("contacts", "carts"): 587,
    ("deals", "contacts"): 3, ("deals", "companies"): 341, ("deals", "tasks"): 215, ("deals", "notes"): 213,
    ("deals", "calls"): 205, ("deals", "emails"): 209, ("deals", "meetings"): 211, ("deals", "line_items"): 19,
    ("deals", "carts"): 1346,
    ("tasks", "contacts"): 204, ("tasks", "companies"): 192, ("tasks", "deals"): 216,
    ("notes", "contacts"): 202, ("notes", "companies"): 190, ("notes", "deals"): 214,
    ("calls", "companies"): 182, ("calls", "contacts"): 194, ("calls", "deals"): 206,
    ("emails", "companies"): 186, ("emails", "contacts"): 198, ("emails", "deals"): 210,
    ("meetings", "contacts"): 200, ("meetings", "companies"): 188, ("meetings", "deals"): 212,
    ("line_items", "deals"): 20, ("line_items", "carts"): 591,
    ("carts", "contacts"): 586, ("carts", "deals"): 1347, ("carts", "line_items"): 590, ("carts", "tasks"): 728,
}  # fmt: skip
DOCUMENTED_PRIMARY_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,  # contact to primary company
    ("companies", "contacts"): 2,  # company to primary contact
    ("deals", "companies"): 5,  # deal to primary company
    ("companies", "deals"): 6,  # primary company to deal
}
# the documented pairs whose inverse is documented too: every one of them is in both tables
TWO_WAY_PAIRS = {pair for pair in DOCUMENTED_DEFAULT_TYPE_IDS if pair[::-1] in DOCUMENTED_DEFAULT_TYPE_IDS}


def test_the_adapter_associates_every_two_way_documented_pair_with_hubspot_s_id() -> None:
    from flywheel.adapters.hubspot import DEFAULT_ASSOCIATION_TYPE_IDS

    assert dict(DEFAULT_ASSOCIATION_TYPE_IDS) == {pair: DOCUMENTED_DEFAULT_TYPE_IDS[pair] for pair in TWO_WAY_PAIRS}


def test_the_sandbox_knows_hubspot_s_ids_and_numbers_only_undocumented_pairs_itself() -> None:
    from sandbox import associations

    documented = {
        k: v for k, v in associations.DEFAULT_TYPE_IDS.items() if k not in associations.SANDBOX_ASSIGNED_PAIRS
    }
    own = {k: v for k, v in associations.DEFAULT_TYPE_IDS.items() if k in associations.SANDBOX_ASSIGNED_PAIRS}

    assert documented == {pair: DOCUMENTED_DEFAULT_TYPE_IDS[pair] for pair in TWO_WAY_PAIRS}
    assert associations.PRIMARY_TYPE_IDS == DOCUMENTED_PRIMARY_TYPE_IDS
    assert not set(own) & set(DOCUMENTED_DEFAULT_TYPE_IDS)
    assert all(type_id > max(DOCUMENTED_DEFAULT_TYPE_IDS.values()) for type_id in own.values())
