"""`cold_segment`: Wake Up pipeline and recontact tasks (daily) and the Wake Up stage webhook.

Body: {as_of?, dry_run?}.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from _entry import run, webhook

FUNCTION = "cold_segment"


@functions_framework.http
def cold_segment(request: flask.Request) -> Any:
    return run(FUNCTION, request)


@functions_framework.http
def cold_segment_webhook(request: flask.Request) -> Any:
    """HubSpot workflow webhook for Wake Up deals reaching "Appuntamento fissato" (v3 signature)."""
    return webhook(FUNCTION, request)
