"""report: the reps' dashboard, retention KPIs and the attribution of revenue to Flywheel's flows.

`build_report(ports, as_of, owner=None)` returns the report as JSON-ready data (build.py, definitions in
domain/report.py); `flywheel.report_page.render_page(report)` turns it into the self-contained HTML page. The
touches attribution reads are recorded by the effect executor (touches.py).
"""

from __future__ import annotations

from flywheel.services.report.build import build_report

ENDPOINT = "report"

__all__ = ["ENDPOINT", "build_report"]
