"""Reads several services make the same way: the records associated with a set of records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flywheel.domain.models import Contact, CrmRecord
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, to_contact


def associated_records(
    ports: Ports, from_type: str, to_type: str, ids: Iterable[str], properties: Sequence[str]
) -> dict[str, list[CrmRecord]]:
    """For each id, its associated `to_type` records in association order (records gone meanwhile left out).

    One associations read and one batch read per 100 records, never a call per record.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    linked = ports.crm.associated_ids(from_type, to_type, wanted)
    target_ids = sorted({target for targets in linked.values() for target in targets})
    records = {r.id: r for r in ports.crm.read_batch(to_type, target_ids, properties)} if target_ids else {}
    return {record_id: [records[t] for t in linked.get(record_id, []) if t in records] for record_id in wanted}


def contacts_of(ports: Ports, company_ids: Iterable[str]) -> dict[str, list[Contact]]:
    """Each company's contacts in association order: the first is the primary contact."""
    contract = ports.settings.portal
    linked = associated_records(ports, "companies", "contacts", company_ids, contact_properties(contract))
    return {company_id: [to_contact(r, contract) for r in records] for company_id, records in linked.items()}
