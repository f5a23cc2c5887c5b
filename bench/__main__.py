"""Run the benchmarks and print their Markdown report (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import sys
import time

from bench import carts, cashback, report, sandbox, sirank

BENCHMARKS = {"carts": carts, "cashback": cashback, "report": report, "sandbox": sandbox, "sirank": sirank}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these benchmarks")
    for module in BENCHMARKS.values():
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    for name in args.only or sorted(BENCHMARKS):
        started = time.perf_counter()
        print(BENCHMARKS[name].run(args), flush=True)
        print(f"_{name} benchmark took {time.perf_counter() - started:.0f} s_\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
