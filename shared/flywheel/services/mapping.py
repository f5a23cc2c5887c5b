"""HubSpot records to domain entities, by the configured property names. Tolerant of HubSpot's string shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flywheel.config import PortalContract
from flywheel.domain.models import Company, Contact, CrmRecord

DEAL_PROPERTIES = ("dealname", "amount", "closedate", "pipeline", "dealstage", "hs_lastmodifieddate")


def company_properties(contract: PortalContract) -> list[str]:
    return [
        contract.company_name,
        "hubspot_owner_id",
        contract.category,
        contract.province,
        contract.dp_level,
        contract.available_credit,
        contract.cashback_available,
        contract.ecommerce_status,
        contract.sirank,
        contract.last_purchase_date,
        contract.retention_segment,
        contract.phone,
    ]


def contact_properties(contract: PortalContract) -> list[str]:
    return [
        contract.contact_email,
        "firstname",
        "lastname",
        "phone",
        contract.contact_optout,
        contract.contact_legal_basis,
    ]


def parse_number(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_bool(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"true", "1", "yes"}


def parse_instant(value: str | None) -> datetime | None:
    """A HubSpot datetime property as an aware instant: ISO 8601 (UTC unless it says otherwise), epoch
    milliseconds, or a bare date (midnight UTC, as HubSpot stores date properties). None when empty or malformed."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def parse_date(value: str | None, timezone: str = "Europe/Rome") -> date | None:
    """A HubSpot date or datetime property as a calendar date in `timezone`; None when empty or malformed.

    Date properties (`YYYY-MM-DD`) are calendar dates already; datetimes are instants, seen from `timezone`.
    """
    if value is not None and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    instant = parse_instant(value)
    return None if instant is None else instant.astimezone(ZoneInfo(timezone)).date()


def to_company(record: CrmRecord, contract: PortalContract) -> Company:
    sirank = parse_number(record.prop(contract.sirank))
    return Company(
        id=record.id,
        name=record.prop(contract.company_name) or f"Azienda {record.id}",
        owner_id=record.prop("hubspot_owner_id"),
        category=record.prop(contract.category),
        province=record.prop(contract.province),
        dp_level=record.prop(contract.dp_level),
        available_credit=parse_number(record.prop(contract.available_credit)),
        cashback_available=parse_number(record.prop(contract.cashback_available)),
        ecommerce_status=record.prop(contract.ecommerce_status),
        sirank=None if sirank is None else round(sirank),
        last_purchase_date=parse_date(record.prop(contract.last_purchase_date)),
        retention_segment=record.prop(contract.retention_segment),
        phone=record.prop(contract.phone),
        properties=record.properties,
    )


def to_contact(record: CrmRecord, contract: PortalContract) -> Contact:
    return Contact(
        id=record.id,
        email=record.prop(contract.contact_email),
        first_name=record.prop("firstname"),
        last_name=record.prop("lastname"),
        opted_out=parse_bool(record.prop(contract.contact_optout)),
        legal_basis=record.prop(contract.contact_legal_basis),
        phone=record.prop("phone"),
    )
