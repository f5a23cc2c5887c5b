"""The `flywheel` command: run a function once, serve the sandbox portal, or play the 90-day demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from flywheel import logs
from flywheel.bootstrap import instance
from flywheel.config import load_settings
from flywheel.domain.models import RunResult
from flywheel.errors import EXIT_BAD_INPUT
from flywheel.runner import SETTINGS_ERRORS, Failure, describe, failure_of, run_function, settings_error
from flywheel.services.context import Ports, ProgressFn
from flywheel.services.registry import UnknownFunction, functions, get

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    # readable lines on stderr; FLYWHEEL_LOG_FORMAT=json makes them Cloud Logging entries (a job, a container)
    logs.configure_for_cli()
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return _run(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "sandbox":
        return _sandbox(args)
    if args.command == "demo":
        from flywheel.demo import run_demo

        return run_demo(
            companies=args.companies, days=args.days, seed=args.seed, workdir=args.workdir, start=args.start
        )
    if args.command == "config":
        return _config(markdown=args.markdown)
    if args.command == "report":
        return _report(args)
    if args.command == "functions":
        settings = load_settings()
        for name, spec in functions().items():
            when = ", ".join(f"{s.cron()} ({s.job})" for s in spec.schedules(settings))
            print(f"{name}\t{when}\t{spec.summary}")
        return 0
    parser.print_help()
    return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flywheel", description=__doc__)
    commands = parser.add_subparsers(dest="command")

    # the function's own options are known only once the function is: `--help` is answered in _run
    run = commands.add_parser(
        "run", help="run one function once with the configuration from the environment", add_help=False
    )
    run.add_argument(
        "function", nargs="?", help="sirank_recalc, cold_segment, nurture_step, ... (see `flywheel functions`)"
    )
    run.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    run.add_argument("-h", "--help", action="store_true", help="show the options of FUNCTION")

    sandbox = commands.add_parser("sandbox", help="serve a local HubSpot sandbox portal until stopped")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8099)
    sandbox.add_argument("--companies", type=int, default=3000, help="0 = an empty portal with its schema")
    sandbox.add_argument("--seed", type=int, default=1)
    sandbox.add_argument("--token", default="sandbox-token")
    sandbox.add_argument("--rate-limit", type=int, default=190, help="calls per 10 s; 0 = off")
    sandbox.add_argument("--search-lag", type=float, default=0.0, help="seconds before writes show in search")
    sandbox.add_argument("--fault-rate", type=float, default=0.0, help="share of calls answered with a 5xx")
    sandbox.add_argument("--latency-ms", type=int, default=0)
    sandbox.add_argument(
        "--now",
        metavar="INSTANT",
        help="pin the portal's clock (e.g. 2026-11-21T09:00:00Z); POST /_sandbox/clock moves it; default real time",
    )

    demo = commands.add_parser("demo", help="a sandbox portal and every function over 90 simulated days")
    demo.add_argument("--companies", type=int, default=3000)
    demo.add_argument("--days", type=int, default=90)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--workdir", default=".flywheel/demo", help="where the demo keeps its state and outbox")
    demo.add_argument(
        "--start", type=date.fromisoformat, metavar="YYYY-MM-DD", help="the first simulated day (default today)"
    )

    report = commands.add_parser("report", help="the reps' dashboard: an HTML page and its JSON")
    report.add_argument("--as-of", type=date.fromisoformat, metavar="YYYY-MM-DD", help="default today")
    report.add_argument("--owner", metavar="EMAIL", help="only the companies this owner owns")
    report.add_argument("--out", metavar="DIR", help="write DIR/index.html and DIR/report.json")
    report.add_argument("--json", action="store_true", help="print the JSON on stdout")

    commands.add_parser("functions", help="list the functions")
    config = commands.add_parser("config", help="the effective configuration (secrets masked)")
    config.add_argument("--markdown", action="store_true", help="as a Markdown table")
    return parser


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    if args.function is None:
        print("usage: flywheel run FUNCTION [--json] [options]; functions: " + ", ".join(functions()), file=sys.stderr)
        return 0 if args.help else EXIT_BAD_INPUT
    try:
        spec = get(args.function)
    except UnknownFunction as error:
        print(f"flywheel: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = argparse.ArgumentParser(prog=f"flywheel run {spec.name}")
    options.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    for name, field in spec.request_model.model_fields.items():
        _add_option(options, name, field)
    if args.help:
        options.print_help()
        return 0
    try:
        values = vars(options.parse_args(rest))
        values.pop("json")
        request = spec.request_model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as error:
        print(f"flywheel: invalid options: {describe(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exit_:
        return int(exit_.code or 0)

    def run_once() -> RunResult:
        # progress lines read "[FUNCTION] message", as the scope names the function
        with logs.run_scope(spec.name):
            return run_function(spec.name, request, _ports(logs.progress))

    result = _guarded(run_once)
    if isinstance(result, Failure):
        return result.exit_code
    if args.json:
        json.dump(result.as_json(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(f"{result.function} as of {result.as_of}{' (dry run)' if result.dry_run else ''}")
        counts: dict[str, int] = {}
        for action in result.actions:
            counts[action.type] = counts.get(action.type, 0) + 1
        for action_type, count in sorted(counts.items()):
            print(f"  {action_type}: {count}")
        for key, value in result.summary.items():
            print(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return 0


def _add_option(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    flag = "--" + name.replace("_", "-")
    annotation = field.annotation
    if annotation is bool:
        parser.add_argument(flag, dest=name, action="store_true", default=None, help=field.description)
        return
    choices = _literal_choices(annotation)
    kind: Any = date.fromisoformat if _accepts(annotation, date) else str
    parser.add_argument(flag, dest=name, type=kind, choices=choices, default=None, help=field.description)


def _literal_choices(annotation: Any) -> list[Any] | None:
    for candidate in _union_members(annotation):
        if typing.get_origin(candidate) is typing.Literal:
            return list(typing.get_args(candidate))
    return None


def _accepts(annotation: Any, kind: type) -> bool:
    return any(candidate is kind for candidate in _union_members(annotation))


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _report(args: argparse.Namespace) -> int:
    if args.out is None and not args.json:
        print("flywheel report: give --out DIR, --json, or both", file=sys.stderr)
        return EXIT_BAD_INPUT
    from flywheel.services.report import build_report
    from flywheel.services.report.request import report_as_of

    def build() -> dict[str, Any]:
        ports = _ports(lambda message: print(f"[report] {message}", file=sys.stderr))
        report = build_report(ports, report_as_of(args.as_of, ports), args.owner)
        if args.out is not None:
            from flywheel.report_page import write_report

            page = write_report(report, Path(args.out))
            print(f"report as of {report['as_of']}: {page}", file=sys.stderr)
        return report

    report = _guarded(build)
    if isinstance(report, Failure):
        return report.exit_code
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0


def _guarded(action: Callable[[], T]) -> T | Failure:
    """What `action` returns; a failure the caller is told about (a FlywheelError, a ValidationError) is printed
    as `flywheel: message` and returned, for its exit code; any other error (a bug) propagates."""
    try:
        return action()
    except Exception as error:
        failure = failure_of(error)
        if failure is None:
            raise
        print(f"flywheel: {failure.message}", file=sys.stderr)
        return failure


def _ports(progress: ProgressFn) -> Ports:
    """The instance's ports; a setting the environment gave that does not parse is a ConfigurationError."""
    try:
        return instance().ports(progress=progress)
    except SETTINGS_ERRORS as error:
        raise settings_error(error) from None


def _config(*, markdown: bool) -> int:
    from flywheel.config import reference

    rows = reference(load_settings())
    if markdown:
        print("| variable | value |\n|---|---|")
        for env, value in rows:
            print(f"| `{env}` | `{value}` |")
    else:
        for env, value in rows:
            print(f"{env}={value}")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.clock import parse_instant
    from sandbox.server import SandboxServer

    try:
        now = parse_instant(args.now) if args.now else None
    except ValueError as error:
        print(f"flywheel sandbox: --now: {error}", file=sys.stderr)
        return 2
    server = SandboxServer(
        now=now,
        host=args.host,
        port=args.port,
        companies=args.companies,
        seed=args.seed,
        token=args.token,
        rate_limit=args.rate_limit,
        search_lag_seconds=args.search_lag,
        fault_rate=args.fault_rate,
        latency_ms=args.latency_ms,
    )
    print(
        f"HubSpot sandbox portal on {server.url} (token {args.token!r}, {args.companies} companies); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def entry() -> int:
    """The console script: `flywheel ... | head` closing the pipe early is not an error."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(entry())
