"""Object types and HubSpot-defined association type ids known to the sandbox.

The ids in DEFAULT_TYPE_IDS are the ones HubSpot documents for the unlabeled (default) association between two
standard objects ("Associate records", v4 associations guide, association type IDs); PRIMARY_TYPE_IDS are the
"primary" labels. HubSpot documents no association between carts and companies, which the generated portal uses
(a cart belongs to the customer): that pair gets sandbox-assigned ids far above any HubSpot id, so that every pair
the sandbox accepts has one stable default id in both directions and none is mistaken for a real one.

The HubSpot adapter keeps its own table (flywheel.adapters.hubspot.DEFAULT_ASSOCIATION_TYPE_IDS) on purpose, so
that the sandbox checks the adapter instead of echoing it; tests/integration/test_crm_contract.py pins both to
HubSpot's documented ids.
"""

from __future__ import annotations

from sandbox.schema import OBJECT_TYPES

# HubSpot's object type ids and singular names are accepted wherever a type name is.
OBJECT_TYPE_ALIASES: dict[str, str] = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-27": "tasks",
    "0-46": "notes",
    "0-48": "calls",
    "0-49": "emails",
    "0-47": "meetings",
    "0-142": "carts",
    "0-8": "line_items",
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "task": "tasks",
    "note": "notes",
    "call": "calls",
    "email": "emails",
    "meeting": "meetings",
    "cart": "carts",
    "line_item": "line_items",
}

OBJECT_TYPE_IDS: dict[str, str] = {
    plural: type_id for type_id, plural in OBJECT_TYPE_ALIASES.items() if type_id.startswith("0-")
}

SINGULAR: dict[str, str] = {
    plural: singular for singular, plural in OBJECT_TYPE_ALIASES.items() if not singular.startswith("0-")
}

DEFAULT_TYPE_IDS: dict[tuple[str, str], int] = {
    ("companies", "contacts"): 280,
    ("companies", "deals"): 342,
    ("companies", "tasks"): 191,
    ("companies", "notes"): 189,
    ("companies", "calls"): 181,
    ("companies", "emails"): 185,
    ("companies", "meetings"): 187,
    ("contacts", "companies"): 279,
    ("contacts", "deals"): 4,
    ("contacts", "tasks"): 203,
    ("contacts", "notes"): 201,
    ("contacts", "calls"): 193,
    ("contacts", "emails"): 197,
    ("contacts", "meetings"): 199,
    ("contacts", "carts"): 587,
    ("deals", "companies"): 341,
    ("deals", "contacts"): 3,
    ("deals", "tasks"): 215,
    ("deals", "notes"): 213,
    ("deals", "calls"): 205,
    ("deals", "emails"): 209,
    ("deals", "meetings"): 211,
    ("deals", "line_items"): 19,
    ("deals", "carts"): 1346,
    ("tasks", "companies"): 192,
    ("tasks", "contacts"): 204,
    ("tasks", "deals"): 216,
    ("notes", "companies"): 190,
    ("notes", "contacts"): 202,
    ("notes", "deals"): 214,
    ("calls", "companies"): 182,
    ("calls", "contacts"): 194,
    ("calls", "deals"): 206,
    ("emails", "companies"): 186,
    ("emails", "contacts"): 198,
    ("emails", "deals"): 210,
    ("meetings", "companies"): 188,
    ("meetings", "contacts"): 200,
    ("meetings", "deals"): 212,
    ("line_items", "deals"): 20,
    ("line_items", "carts"): 591,
    ("carts", "contacts"): 586,
    ("carts", "deals"): 1347,
    ("carts", "line_items"): 590,
    # Sandbox-assigned (see the module docstring).
    ("carts", "companies"): 90_001,
    ("companies", "carts"): 90_002,
}

# The pairs above that HubSpot does not document.
SANDBOX_ASSIGNED_PAIRS: frozenset[tuple[str, str]] = frozenset({("carts", "companies"), ("companies", "carts")})

PRIMARY_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"


def _build_type_lookup() -> dict[tuple[str, int], tuple[str, int]]:
    """(from type, type id) -> (to type, the type id of the same association read from the other side)."""
    lookup: dict[tuple[str, int], tuple[str, int]] = {}
    for table in (DEFAULT_TYPE_IDS, PRIMARY_TYPE_IDS):
        for (from_type, to_type), type_id in table.items():
            lookup[(from_type, type_id)] = (to_type, table[(to_type, from_type)])
    return lookup


_TYPE_LOOKUP = _build_type_lookup()


def normalize_object_type(name: str) -> str | None:
    """The plural type name for a type name, singular or HubSpot type id; None if the sandbox has no such type."""
    lowered = name.lower()
    if lowered in OBJECT_TYPES:
        return lowered
    return OBJECT_TYPE_ALIASES.get(lowered)


def target_of(from_type: str, type_id: int) -> tuple[str, int] | None:
    """The object type a HUBSPOT_DEFINED type id points to from `from_type`, and its inverse type id."""
    return _TYPE_LOOKUP.get((from_type, type_id))


def inverse_type_id(from_type: str, to_type: str, type_id: int) -> int:
    """The type id of an association as seen from the other object."""
    found = _TYPE_LOOKUP.get((from_type, type_id))
    if found is not None and found[0] == to_type:
        return found[1]
    return DEFAULT_TYPE_IDS.get((to_type, from_type), type_id)


def default_type_id(from_type: str, to_type: str) -> int | None:
    return DEFAULT_TYPE_IDS.get((from_type, to_type))


def v3_type_name(from_type: str, to_type: str, type_id: int) -> str:
    """The `type` string of an association in v3 responses: deal_to_company, deal_to_company_unlabeled, ..."""
    base = f"{SINGULAR.get(from_type, from_type)}_to_{SINGULAR.get(to_type, to_type)}"
    if (from_type, to_type) in PRIMARY_TYPE_IDS and type_id == DEFAULT_TYPE_IDS.get((from_type, to_type)):
        return f"{base}_unlabeled"
    return base
