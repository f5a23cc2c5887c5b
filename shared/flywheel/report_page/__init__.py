"""The report as one self-contained HTML page: the report JSON embedded, plotly.js, styles and script inlined.

Nothing is fetched when the page is viewed (it is mailed, archived, opened from disk), so every byte it needs is
in the file, and a Content-Security-Policy forbids any request. Filtering by owner, sorting and the charts happen
in the browser over the embedded data; Python renders only the shell and the first figures (the KPIs), so the
page says something even before its script runs.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from flywheel.domain.italian import euro, italian_number

MONTHS_IT = (
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
)

# In a <script> element the HTML parser ends the element at "</script" whatever the JavaScript around it, and
# "<!--" starts a state where a later "<script" changes how "</script>" is read; JSON and plotly.js may carry
# either inside string literals, where these escapes mean the same characters.
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)
_COMMENT_OPEN = re.compile(r"<!--")


def render_page(report: Mapping[str, Any]) -> str:
    """The whole HTML page of `report` (the JSON shape of `flywheel report`)."""
    as_of = date.fromisoformat(str(report["as_of"]))
    kpis = report["kpis"]
    owner = report.get("owner")
    scope = f"Portafoglio di {_owner_name(report, str(owner))}" if owner else "Tutti i commerciali"
    return Template(_asset("page.html")).substitute(
        as_of_iso=as_of.isoformat(),
        as_of_label=long_date(as_of),
        scope=html.escape(scope),
        kpi_active=italian_number(float(kpis["active_customers"])),
        kpi_sirank=italian_number(float(kpis["customer_equity_sirank"])),
        kpi_r12=euro(float(kpis["customer_equity_r12"])),
        style=_asset("page.css"),
        plotly=_inline_script(plotly_js()),
        script=_inline_script(_asset("page.js")),
        data=embed_json(report),
    )


def write_report(report: Mapping[str, Any], out: Path) -> Path:
    """`out/report.json` and `out/index.html` (the page to open), for the CLI and the demo alike."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    page = out / "index.html"
    page.write_text(render_page(report), encoding="utf-8")
    return page


def embed_json(report: Mapping[str, Any]) -> str:
    """`report` as JSON that can sit inside <script type="application/json"> whatever strings it carries."""
    text = json.dumps(report, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_plain)
    return "".join(_JSON_ESCAPES.get(char, char) for char in text)


def long_date(day: date) -> str:
    """2026-11-30 -> "30 novembre 2026"."""
    return f"{day.day} {MONTHS_IT[day.month - 1]} {day.year}"


@cache
def plotly_js() -> str:
    """The minified plotly.js the installed `plotly` package ships (what plotly.offline.get_plotlyjs returns)."""
    return resources.files("plotly").joinpath("package_data", "plotly.min.js").read_text(encoding="utf-8")


@cache
def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _inline_script(source: str) -> str:
    return _COMMENT_OPEN.sub(r"<\\!--", _SCRIPT_END.sub(r"<\\/\1", source))


def _owner_name(report: Mapping[str, Any], email: str) -> str:
    for owner in report.get("owners", ()):
        if owner.get("email") == email:
            return str(owner.get("name") or email)
    return email


def _plain(value: object) -> object:
    """Values a report builder may hand over before they become JSON: money as Decimal, days as dates."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"report value of type {type(value).__name__} is not JSON")
