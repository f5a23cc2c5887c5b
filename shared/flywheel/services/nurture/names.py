"""The names nurture_step is known by: the function in the registry and HubSpot, the sequence kind in the store."""

from __future__ import annotations

FUNCTION = "nurture_step"
KIND = "nurture"
