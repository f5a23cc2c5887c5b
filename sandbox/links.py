"""The portal's associations between records: link and unlink (both directions at once, each with its type ids),
the associations given when a record is created, and the reads of v3 (`associations` of a record) and v4.

This is the store side; `sandbox.associations` holds HubSpot's object types and association type ids. A link to
an archived record is kept but not shown; every change bumps the generation of both types (search results on
`associations.*` depend on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sandbox import associations as assoc
from sandbox.errors import bad_request
from sandbox.records import Records

# from id -> to id -> association type ids
LinksById = dict[str, dict[str, list[int]]]


class Links:
    """Associations of one portal, by (from type, to type). Called under the store lock."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._links: dict[tuple[str, str], LinksById] = {}

    # ------------------------------------------------------------------ reads

    def linked(self, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
        """Every association of one record to a type, archived targets included (not a copy)."""
        return self._links.get((from_type, to_type), {}).get(from_id, {})

    def by_id(self, from_type: str, to_type: str) -> LinksById:
        """All associations from one type to another, by from id (not a copy)."""
        return self._links.get((from_type, to_type), {})

    def live(self, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
        """Associations of one record to live records of a type: to id -> type ids."""
        targets = self._records.tables[to_type]
        return {
            to_id: type_ids
            for to_id, type_ids in self._links.get((from_type, to_type), {}).get(from_id, {}).items()
            if to_id in targets and not targets[to_id].archived
        }

    def links_of(self, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
        """Live associations of one record to a type: to id -> type ids (a copy)."""
        return {to_id: list(type_ids) for to_id, type_ids in self.live(from_type, from_id, to_type).items()}

    def v3_associations(self, object_type: str, object_id: str, to_types: Sequence[str]) -> dict[str, Any]:
        """The `associations` member of a v3 read: {to type: {"results": [{"id", "type"}]}} (non-empty only)."""
        found: dict[str, Any] = {}
        for requested in to_types:
            to_type = assoc.normalize_object_type(requested)
            if to_type is None:
                continue
            results = [
                {"id": to_id, "type": assoc.v3_type_name(object_type, to_type, type_id)}
                for to_id, type_ids in self.live(object_type, object_id, to_type).items()
                for type_id in type_ids
            ]
            if results:
                found[requested] = {"results": results}
        return found

    # ------------------------------------------------------------------ writes

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None) -> int:
        """Associate two records (both must exist); returns the type id used (the pair's default if None)."""
        self._records.require(from_type, from_id)
        self._records.require(to_type, to_id)
        if type_id is None:
            type_id = self.default_type(from_type, to_type)
        elif (target := assoc.target_of(from_type, type_id)) is not None and target[0] != to_type:
            raise bad_request(f"Association type {type_id} does not connect {from_type} to {to_type}.")
        self.add(from_type, from_id, to_type, to_id, type_id)
        return type_id

    def unlink(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        for a_type, b_type, a_id, b_id in (
            (from_type, to_type, from_id, to_id),
            (to_type, from_type, to_id, from_id),
        ):
            self._links.get((a_type, b_type), {}).get(a_id, {}).pop(b_id, None)
        self._records.touch(from_type)
        self._records.touch(to_type)

    def add(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        """Record an association and its inverse (the records are known to exist)."""
        inverse = assoc.inverse_type_id(from_type, to_type, type_id)
        for a_type, a_id, b_type, b_id, a_type_id in (
            (from_type, from_id, to_type, to_id, type_id),
            (to_type, to_id, from_type, from_id, inverse),
        ):
            type_ids = self._links.setdefault((a_type, b_type), {}).setdefault(a_id, {}).setdefault(b_id, [])
            if a_type_id not in type_ids:
                type_ids.append(a_type_id)
        self._records.touch(from_type)
        self._records.touch(to_type)

    def default_type(self, from_type: str, to_type: str) -> int:
        type_id = assoc.default_type_id(from_type, to_type)
        if type_id is None:
            raise bad_request(f"There is no default association between {from_type} and {to_type}.")
        return type_id

    def validated_for_create(self, object_type: str, specs: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
        """The `associations` of a create as (to type, to id, type id), or a 400 if one is invalid."""
        links = []
        for spec in specs:
            to_id = str((spec.get("to") or {}).get("id", ""))
            types = spec.get("types") or []
            if not to_id or not types:
                raise bad_request("Every association needs to.id and types.")
            for association_type in types:
                type_id = association_type.get("associationTypeId")
                target = assoc.target_of(object_type, int(type_id)) if isinstance(type_id, int) else None
                if target is None:
                    raise bad_request(f"{type_id} is not a valid association type id for {object_type}.")
                to_type = target[0]
                if not self._records.exists(to_type, to_id):
                    raise bad_request(
                        f"One or more associations are invalid: {to_type} {to_id} does not exist",
                        sub_category="crm.associations.INVALID_ASSOCIATION",
                    )
                links.append((to_type, to_id, int(type_id)))
        return links

    def load(self, links: Iterable[tuple[str, str, str, str]]) -> None:
        """Bulk form of `add` for the generated portal (hundreds of thousands of default associations)."""
        type_ids: dict[tuple[str, str], tuple[int, int]] = {}
        for from_type, from_id, to_type, to_id in links:
            pair = type_ids.get((from_type, to_type))
            if pair is None:
                forward = self.default_type(from_type, to_type)
                pair = type_ids[(from_type, to_type)] = (forward, assoc.inverse_type_id(from_type, to_type, forward))
            for a_type, a_id, b_type, b_id, type_id in (
                (from_type, from_id, to_type, to_id, pair[0]),
                (to_type, to_id, from_type, from_id, pair[1]),
            ):
                by_id = self._links.get((a_type, b_type))
                if by_id is None:
                    by_id = self._links[(a_type, b_type)] = {}
                targets = by_id.get(a_id)
                if targets is None:
                    by_id[a_id] = {b_id: [type_id]}
                else:
                    existing = targets.get(b_id)
                    if existing is None:
                        targets[b_id] = [type_id]
                    elif type_id not in existing:
                        existing.append(type_id)
