"""The report page as a file: self-contained, its embedded JSON intact whatever the data, its labels Italian.

What the page does in a browser (charts drawn, filter, sorting, no request) is checked in
tests/e2e/test_report_page_browser.py; here the HTML is read with the standard library's HTML parser, which ends
a <script> element where a browser does.
"""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.domain.italian import euro
from flywheel.report_page import embed_json, long_date, plotly_js, render_page
from tests.report_sample import report_sample

HOSTILE_NAME = "Acme </script><script>document.title='rotto'</script><!-- <script> & \u2028 \"Figli\""


class Page(HTMLParser):
    """The parts of a page these tests read: every tag's attributes, script bodies, the text of elements by id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self._script, self._script_text = attributes, []
        if tag not in {"meta", "br", "img", "input", "link"}:
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text_by_id[str(attributes["id"])] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_text)))
            self._script = None
        while self._open:
            name, _ = self._open.pop()
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)
            return
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data

    def embedded_report(self) -> Any:
        bodies = [body for attributes, body in self.scripts if attributes.get("type") == "application/json"]
        assert len(bodies) == 1
        return json.loads(bodies[0])


@pytest.fixture
def report(today: date) -> dict[str, Any]:
    return report_sample(today)


def test_the_page_fetches_nothing_it_needs_everything_inline(report: dict[str, Any]) -> None:
    page = Page(render_page(report))

    linked = [(tag, name, value) for tag, attributes in page.tags for name, value in attributes.items()]
    assert [entry for entry in linked if entry[1] in {"src", "href", "srcset", "poster", "data", "action"}] == []
    assert not [tag for tag, _ in page.tags if tag in {"link", "iframe", "img", "object", "embed", "base"}]
    policy = [
        a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy and "default-src 'none'" in str(policy[0]) and "connect-src 'none'" in str(policy[0])
    assert "unsafe-eval" not in str(policy[0])


def test_plotly_js_from_the_installed_package_is_inlined_whole(report: dict[str, Any]) -> None:
    page = Page(render_page(report))

    bodies = [body.strip() for attributes, body in page.scripts if not attributes.get("type")]
    assert plotly_js().strip() in bodies
    assert plotly_js().lstrip().startswith("/**\n* plotly.js v")


def test_the_embedded_report_is_the_report(report: dict[str, Any]) -> None:
    assert Page(render_page(report)).embedded_report() == report


def test_a_company_named_with_script_tags_cannot_end_or_open_a_script(report: dict[str, Any]) -> None:
    report["companies"][0]["name"] = HOSTILE_NAME
    report["products_sold"][0]["company"] = HOSTILE_NAME
    report["owners"][0]["name"] = HOSTILE_NAME

    html = render_page(report)
    page = Page(html)

    assert page.embedded_report() == report
    assert len(page.scripts) == 3  # plotly.js, the data, the page's script: no fourth one from a name
    assert html.lower().count("<script") == 3


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40))
def test_any_text_survives_embedding_in_a_script_element(name: str) -> None:
    value = {"companies": [{"name": name}], "note": f"</script>{name}<!--{name}</SCRIPT "}

    embedded = embed_json(value)
    page = Page(f'<script type="application/json">{embedded}</script>')

    assert "<" not in embedded and ">" not in embedded
    assert page.embedded_report() == value


def test_money_and_dates_the_report_builder_may_pass_become_json() -> None:
    embedded = embed_json({"revenue": Decimal("1234.50"), "as_of": date(2026, 3, 1)})

    assert json.loads(embedded) == {"revenue": 1234.5, "as_of": "2026-03-01"}


def test_a_value_that_is_not_a_number_is_refused_not_written_as_nan(report: dict[str, Any]) -> None:
    report["kpis"]["customer_equity_r12"] = math.nan

    with pytest.raises(ValueError):
        render_page(report)


def test_labels_are_italian(report: dict[str, Any]) -> None:
    html = render_page(report)
    page = Page(html)

    assert ("html", {"lang": "it"}) in page.tags
    for label in (
        "Cruscotto clienti",
        "Commerciale",
        ">Tutti</option>",
        "Clienti attivi",
        "Customer equity (SiRank)",
        "Segmenti di clienti per mese",
        "Tasso di retention e di churn",
        "Fatturato mensile: nuovi, riattivati, esistenti",
        "Fatturato per provincia",
        "Distribuzione del SiRank",
        "Nurture: email inviate e conversioni",
        "Pipeline Wake Up per fase",
        "Fatturato attribuito ai flussi",
        "Panoramica clienti",
        "Clienti senza acquisti da più di 30 giorni",
        "Clienti con fido disponibile",
        "Prodotti venduti",
    ):
        assert label in html, label
    assert page.text_by_id["scope"] == "Tutti i commerciali"


def test_kpis_are_written_italian_style_before_any_script_runs(report: dict[str, Any]) -> None:
    report["kpis"] = {"active_customers": 1234, "customer_equity_sirank": 9876543, "customer_equity_r12": 1234.56}

    page = Page(render_page(report))

    assert page.text_by_id["kpi-active"] == "1.234"
    assert page.text_by_id["kpi-sirank"] == "9.876.543"
    assert page.text_by_id["kpi-r12"] == "1.234,56 €" == euro(1234.56)


def test_the_as_of_day_is_written_in_italian(report: dict[str, Any], today: date) -> None:
    page = Page(render_page(report))

    assert long_date(date(2026, 3, 1)) == "1 marzo 2026"
    assert long_date(date(2027, 12, 31)) == "31 dicembre 2027"
    assert page.text_by_id["as-of"] == long_date(today)


def test_a_report_for_one_owner_names_them_escaped(report: dict[str, Any]) -> None:
    report["owner"] = report["owners"][1]["email"]
    report["owners"][1]["name"] = "Marco <b>Rossi</b> & C."

    page = Page(render_page(report))

    assert page.text_by_id["scope"] == "Portafoglio di Marco <b>Rossi</b> & C."
    assert not [tag for tag, _ in page.tags if tag == "b"]
