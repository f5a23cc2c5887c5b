"""What a report is asked for, over HTTP (`?as_of=&owner=&format=`) and from the CLI alike."""

from __future__ import annotations

from datetime import date
from typing import Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field

from flywheel.errors import BadInput
from flywheel.runner import AsOfOutOfRange, as_of_range
from flywheel.services.context import Ports


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = None
    # an owner's email: that owner's companies only
    owner: str | None = Field(default=None, min_length=3, max_length=254)
    format: Literal["html", "json"] = "html"


def parse_query(query: str) -> ReportQuery:
    """The URL's query string as a ReportQuery; a parameter given twice or unknown is bad input (400)."""
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=10)
    except ValueError as error:
        raise BadInput(f"malformed query string: {error}") from None
    repeated = sorted(name for name, given in values.items() if len(given) > 1)
    if repeated:
        raise BadInput(f"query parameter given more than once: {', '.join(repeated)}")
    # a pydantic ValidationError is a 400 (flywheel.runner.failure_of)
    return ReportQuery.model_validate({name: given[0] for name, given in values.items() if given[0] != ""})


def report_as_of(as_of: date | None, ports: Ports) -> date:
    """as_of, today by default. A report changes nothing, so it may look back as far as a dry run may."""
    today = ports.clock.today()
    if as_of is None:
        return today
    earliest, latest = as_of_range(dry_run=True, today=today, settings=ports.settings)
    if not earliest <= as_of <= latest:
        raise AsOfOutOfRange(
            f"as_of {as_of.isoformat()} is outside the range of a report today ({today.isoformat()}): "
            f"{earliest.isoformat()} to {latest.isoformat()}"
        )
    return as_of
