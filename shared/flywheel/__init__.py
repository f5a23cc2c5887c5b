"""Flywheel: customer value and retention automation on HubSpot, run as small Cloud Functions."""

__version__ = "0.1.0"
