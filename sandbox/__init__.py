"""A local HubSpot-compatible sandbox portal and the deterministic synthetic-portal generator that fills it."""
