"""The report page in a real browser: Debian's headless Chromium, driven by playwright, opens it from disk.

Every chart must draw marks, the console stay free of errors and no request leave the page but its own file; the
owner filter and the sortable headers must work on the embedded data. A screenshot of each run is kept in the
test's tmp path and copied to $FLYWHEEL_TEST_ARTIFACTS (default .flywheel/test-artifacts/).

Without Chromium (or playwright) the tests are skipped with a warning; FLYWHEEL_REQUIRE_BROWSER=1 (CI) turns the
skip into a failure. playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import shutil
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flywheel.domain.italian import euro, italian_number
from flywheel.report_page import render_page
from tests.report_sample import report_sample

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = ("segments", "retention", "revenue", "provinces", "sirank", "funnel", "wakeup", "attribution")
HOSTILE_NAME = "Zeta </script><script>window.__injected = 1</script><!-- & <b>grassetto</b>"

# marks as Plotly draws them in the plot area (the legend draws samples of them too): bars, histogram bins and
# funnel steps are `.point`, a line is a `path.js-line` and its markers `.point`; a mark is rendered when the
# browser gives it an area (a line, a length)
COUNT_MARKS = """element => {
  const marks = Array.from(element.querySelectorAll('.cartesianlayer .point, .cartesianlayer path.js-line'));
  const drawn = marks.filter(mark => {
    const box = mark.getBBox();
    return mark.classList.contains('js-line') ? box.width + box.height > 0 : box.width > 0 && box.height > 0;
  });
  return {marks: marks.length, drawn: drawn.length};
}"""


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _unavailable(reason: str) -> None:
    message = f"REAL-BROWSER TESTS OF THE REPORT PAGE SKIPPED: {reason}"
    if os.environ.get("FLYWHEEL_REQUIRE_BROWSER", "") not in {"", "0"}:
        pytest.fail(message + " (FLYWHEEL_REQUIRE_BROWSER is set)")
    warnings.warn(message, UserWarning, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium at /usr/bin/chromium nor `chromium` on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Opened:
    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def table(self, name: str) -> dict[str, Any]:
        """One table as shown: its total (all pages), the visible rows' owner ids and cells by column key."""
        return self.page.eval_on_selector(  # type: ignore[no-any-return]
            f"#table-{name} table",
            """table => {
                const rows = Array.from(table.tBodies[0].rows).filter(r => !r.querySelector('.empty'));
                return {
                    total: Number(table.dataset.total),
                    owners: rows.map(r => r.dataset.owner),
                    cells: rows.map(r => Object.fromEntries(
                        Array.from(r.cells).map(c => [c.dataset.key, c.textContent])))
                };
            }""",
        )

    def text(self, selector: str) -> str:
        return str(self.page.text_content(selector))


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Opened]]:
    contexts: list[Any] = []

    def open_page(report: dict[str, Any]) -> Opened:
        path = tmp_path / "index.html"
        path.write_text(render_page(report), encoding="utf-8")
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="it-IT")
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page=page, url=path.as_uri())
        page.on("request", lambda request: opened.requests.append(request.url))

        def on_console(message: Any) -> None:
            if message.type == "error":
                opened.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.goto(opened.url)
        page.wait_for_selector("body[data-ready='true']", timeout=60_000)
        return opened

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def report(today: date) -> dict[str, Any]:
    return report_sample(today, companies=40)


@pytest.fixture
def artifacts() -> Path:
    folder = Path(os.environ.get("FLYWHEEL_TEST_ARTIFACTS") or REPO / ".flywheel" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_chart_draws_its_marks_with_no_request_and_no_console_error(
    open_report: Callable[[dict[str, Any]], Opened],
    report: dict[str, Any],
    tmp_path: Path,
    artifacts: Path,
    today: date,
) -> None:
    opened = open_report(report)

    marks = {name: opened.page.eval_on_selector(f"#chart-{name}", COUNT_MARKS) for name in CHARTS}
    screenshot = tmp_path / "report-page.png"
    opened.page.screenshot(path=str(screenshot), full_page=True)
    shutil.copyfile(screenshot, artifacts / f"report-page-{today.isoformat()}.png")

    assert {name: counted["drawn"] > 0 for name, counted in marks.items()} == dict.fromkeys(CHARTS, True), marks
    months, flows = len(report["months"]), len(report["attribution"]["flows"])
    rates = sum(m[key] is not None for m in report["months"] for key in ("retention_rate", "churn_rate"))
    assert marks["segments"]["marks"] == 4 * months  # attivo, tiepido, freddo, perso per month
    assert marks["revenue"]["marks"] == 3 * months  # new, reactivated, existing per month
    assert marks["retention"]["marks"] == rates + 2  # a marker per known rate, and the two lines
    assert marks["funnel"]["marks"] == 6
    assert marks["wakeup"]["marks"] == len(report["wakeup_pipeline"])
    assert marks["attribution"]["marks"] == 2 * flows  # both models side by side
    assert marks["provinces"]["marks"] == 2 * len(report["revenue_by_province"])
    assert opened.requests == [opened.url]
    assert opened.errors == []
    assert screenshot.stat().st_size > 0


def test_the_owner_filter_keeps_only_that_owners_companies_everywhere(
    open_report: Callable[[dict[str, Any]], Opened], report: dict[str, Any]
) -> None:
    opened = open_report(report)
    owner = report["owners"][2]
    theirs = [c for c in report["companies"] if c["owner_id"] == owner["id"]]
    their_ids = {c["id"] for c in theirs}
    before = opened.table("overview")

    opened.page.select_option("#owner-filter", label=owner["name"])

    after = opened.table("overview")
    assert before["total"] == len(report["companies"]) and len(before["cells"]) == 25  # one page of 25
    assert set(before["owners"]) == {o["id"] for o in report["owners"]}
    assert after["total"] == len(theirs) < before["total"]
    assert after["owners"] == [owner["id"]] * len(theirs)
    assert {row["owner"] for row in after["cells"]} == {owner["name"]}
    assert {row["name"] for row in after["cells"]} == {c["name"] for c in theirs}
    silent = opened.table("silent")
    assert silent["total"] == len(their_ids & set(report["silent_30"]))
    assert set(silent["owners"]) <= {owner["id"]}
    credit = opened.table("credit")
    assert credit["total"] == len(their_ids & set(report["credit_available"]))
    products = opened.table("products")
    assert products["total"] == sum(1 for p in report["products_sold"] if p["company_id"] in their_ids)
    assert set(products["owners"]) <= {owner["id"]}
    assert opened.text("#kpi-sirank") == italian_number(sum(c["sirank"] for c in theirs))
    assert opened.text("#kpi-mtd") == euro(round(sum(c["revenue_mtd"] for c in theirs), 2))
    assert opened.page.is_visible("#scope-note")

    opened.page.select_option("#owner-filter", label="Tutti")

    assert opened.table("overview")["total"] == len(report["companies"])
    assert opened.text("#kpi-sirank") == italian_number(report["kpis"]["customer_equity_sirank"])
    assert opened.errors == []


def test_clicking_a_header_sorts_the_rows_and_clicking_again_reverses_them(
    open_report: Callable[[dict[str, Any]], Opened], report: dict[str, Any]
) -> None:
    opened = open_report(report)
    header = "#table-overview th[data-key='revenue_ytd']"
    by_year = sorted((c["revenue_ytd"] for c in report["companies"]), reverse=True)

    opened.page.click(f"{header} button")
    descending = [row["revenue_ytd"] for row in opened.table("overview")["cells"]]
    descending_state = opened.page.get_attribute(header, "aria-sort")
    opened.page.click(f"{header} button")
    ascending = [row["revenue_ytd"] for row in opened.table("overview")["cells"]]

    assert descending == [euro(value) for value in by_year[:25]]
    assert descending_state == "descending"
    assert ascending == [euro(value) for value in sorted(by_year)[:25]]
    assert opened.page.get_attribute(header, "aria-sort") == "ascending"

    opened.page.click("#table-overview th[data-key='last_purchase_date'] button")
    latest_first = [row["last_purchase_date"] for row in opened.table("overview")["cells"]]
    days = sorted((c["last_purchase_date"] for c in report["companies"]), reverse=True)[:25]
    assert latest_first == [date.fromisoformat(d).strftime("%d/%m/%Y") for d in days]
    assert opened.errors == []


def test_the_search_box_narrows_the_overview_to_matching_names_accents_and_case_aside(
    open_report: Callable[[dict[str, Any]], Opened], report: dict[str, Any]
) -> None:
    report["companies"][3]["name"] = "Società Elettrica Città di Castello"
    opened = open_report(report)

    def folded(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()

    opened.page.fill("#search-overview", "CITTA")
    found = opened.table("overview")
    opened.page.fill("#search-overview", "")

    assert found["total"] == sum("citta" in folded(c["name"]) for c in report["companies"]) >= 1
    assert "Società Elettrica Città di Castello" in {row["name"] for row in found["cells"]}
    assert opened.table("overview")["total"] == len(report["companies"])


def test_the_kpis_the_script_writes_agree_with_the_python_formatting(
    open_report: Callable[[dict[str, Any]], Opened], report: dict[str, Any]
) -> None:
    opened = open_report(report)

    kpis = report["kpis"]
    assert opened.text("#kpi-active") == italian_number(kpis["active_customers"])
    assert opened.text("#kpi-sirank") == italian_number(kpis["customer_equity_sirank"])
    assert opened.text("#kpi-r12") == euro(kpis["customer_equity_r12"])
    assert opened.text("#kpi-mtd") == euro(round(sum(c["revenue_mtd"] for c in report["companies"]), 2))


def test_a_company_named_with_script_tags_is_shown_as_text_and_runs_nothing(
    open_report: Callable[[dict[str, Any]], Opened], report: dict[str, Any]
) -> None:
    hostile = report["companies"][0]
    hostile["name"] = HOSTILE_NAME
    hostile["sirank"] = 10 * max(c["sirank"] for c in report["companies"])  # first row of the default order
    report["owners"][0]["name"] = HOSTILE_NAME

    opened = open_report(report)

    assert opened.table("overview")["cells"][0]["name"] == HOSTILE_NAME
    assert HOSTILE_NAME in [
        o.strip() for o in opened.page.eval_on_selector_all("#owner-filter option", "os => os.map(o => o.textContent)")
    ]
    assert opened.page.evaluate("window.__injected") is None
    assert opened.page.eval_on_selector_all("main b", "bs => bs.length") == 0
    assert opened.errors == []
    assert opened.requests == [opened.url]
