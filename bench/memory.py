"""One full sirank_recalc run over the synthetic portal in a fresh process; prints its figures as JSON.

    .venv/bin/python -m bench.memory --companies 100000 [--tracemalloc]

The figure is the process's peak resident set (VmHWM: interpreter, imports, the run; no HTTP client since the
synthetic portal needs none): what a Cloud Functions instance would have to hold. VmHWM, not ru_maxrss, because a
child started by a big parent (the bench, holding a 20,000-company sandbox) inherits the parent's ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from bench import DAY
from bench.synthetic import SyntheticCrm
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.services import sirank
from flywheel.services.context import Ports


def peak_resident_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--day", type=date.fromisoformat, default=DAY)
    args = parser.parse_args()
    today = args.day
    crm = SyntheticCrm(args.companies, today)
    with tempfile.TemporaryDirectory() as folder:
        state = SqliteStateStore(str(Path(folder) / "state.db"))
        ports = Ports(crm=crm, state=state, mailer=object(), clock=FixedClock.on(today), settings=Settings())  # type: ignore[arg-type]
        if args.tracemalloc:
            tracemalloc.start()
        started = time.perf_counter()
        result = sirank.run(sirank.Request(as_of=today, mode="full"), ports)
        wall = time.perf_counter() - started
        python_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    print(
        json.dumps(
            {
                "companies": args.companies,
                "deals": crm.deals,
                "orders": result.summary.get("orders"),
                "actions": len(result.actions),
                "wall_seconds": round(wall, 1),
                "peak_resident_mb": peak_resident_mb(),
                "tracemalloc_peak_mb": None if python_peak is None else round(python_peak / 2**20, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
