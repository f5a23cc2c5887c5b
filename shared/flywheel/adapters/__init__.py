"""Adapters: implementations of the ports (HubSpot, state stores, mailers, in-memory fakes)."""
