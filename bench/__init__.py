"""`make bench`: benchmarks of Flywheel's functions against sandbox portals, figures for BENCHMARKS.md.

    .venv/bin/python -m bench [--only sirank] [--companies 20000] [--rate-limited-companies 2000]
                              [--memory-companies 100000] [--day 2026-11-27]

Each benchmark module exposes `add_arguments(parser)` and `run(args) -> str` (a Markdown section).
"""

from datetime import date

# Day D of every benchmark, fixed so that a run can be repeated figure for figure (a Friday: D+2, the weekly
# full run, falls on the configured Sunday)
DAY = date(2026, 11, 27)
