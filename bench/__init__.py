"""`make bench`: benchmarks of Flywheel's functions against sandbox portals, figures for BENCHMARKS.md.

    .venv/bin/python -m bench [--only sirank] [--companies 20000] [--rate-limited-companies 2000]
                              [--memory-companies 100000]

Each benchmark module exposes `add_arguments(parser)` and `run(args) -> str` (a Markdown section).
"""
