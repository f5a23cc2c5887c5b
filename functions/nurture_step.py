"""`nurture_step`: the 5-email lukewarm sequence (daily) and the order webhook.

Body: {as_of?, dry_run?, backfill?}.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from _entry import run, webhook

FUNCTION = "nurture_step"


@functions_framework.http
def nurture_step(request: flask.Request) -> Any:
    return run(FUNCTION, request)


@functions_framework.http
def nurture_step_webhook(request: flask.Request) -> Any:
    """HubSpot webhook for new orders: ends a running sequence at once (v3 signature)."""
    return webhook(FUNCTION, request)
