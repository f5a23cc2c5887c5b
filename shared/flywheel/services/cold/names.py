"""The names cold_segment is known by in HubSpot and the state store, and what counts as an owner's activity."""

from __future__ import annotations

FUNCTION = "cold_segment"
RECONTACT_KIND = "cold_recontact"
# how far back Wake Up deals created by this function are checked against their idempotency keys
SETTLE_DAYS = 7
# engagements that count as the owner's activity on a company (tasks only once completed)
ACTIVITY_TYPES = ("calls", "emails", "meetings", "notes", "tasks")
