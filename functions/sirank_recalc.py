"""`sirank_recalc`: SiRank for every company (daily incremental, weekly full).

Body: {as_of?, dry_run?, mode?}.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from _entry import run

FUNCTION = "sirank_recalc"


@functions_framework.http
def sirank_recalc(request: flask.Request) -> Any:
    return run(FUNCTION, request)
