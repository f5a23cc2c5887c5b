"""The sandbox portal's own speed, so that no benchmark ends up measuring the sandbox instead of Flywheel.

Runs `python -m sandbox.bench` in a fresh process (its portal and memory stay out of the other benchmarks) and
returns its report as a Markdown section.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sandbox")
    group.add_argument("--sandbox-companies", type=int, default=20_000, help="companies of the sandbox portal")


def run(args: argparse.Namespace) -> str:
    command = [sys.executable, "-m", "sandbox.bench", "--companies", str(args.sandbox_companies)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
    return "\n".join(
        [
            "## sandbox portal",
            "",
            f"Command: `.venv/bin/python -m sandbox.bench --companies {args.sandbox_companies}`",
            "",
            "```",
            done.stdout.rstrip(),
            "```",
        ]
    )
