"""Logs that Cloud Logging understands in a function, and readable lines in a terminal.

In a function every record is one JSON object on one line of stdout, in Cloud Logging's structured format: `severity`
(Cloud Logging's names), `message`, `time`, `logging.googleapis.com/labels` (`function`, `entry`, `run_id`),
`logging.googleapis.com/trace` (with `spanId` and `trace_sampled`) from the request's `traceparent` or
`X-Cloud-Trace-Context` header, and the run's `as_of`. Each run writes one summary entry (`event: run_summary`) with
its counts; the progress of a long run is INFO entries.

The formatter subclasses python-json-logger's JsonFormatter: a small, maintained formatter with no gRPC or Cloud
client dependency. google-cloud-logging's StructuredLogHandler would do the same job but brings the Cloud Logging
client and its gRPC stack into every function bundle, for what is one JSON line on stdout.

No personal data: log calls name records by id and addresses by digest (`address_digest`), and behind that rule
the formatters mask every email address in every string of a record (message, extra fields, tracebacks).

`FLYWHEEL_LOG_FORMAT=json|text` overrides the default: JSON in a function, plain text in the `flywheel` command or
when the function's stdout is a terminal. It is read here, not in `Settings`, because logging is set up when the
entry module is imported, before (and whether or not) the settings parse.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

if TYPE_CHECKING:
    from flywheel.domain.models import RunResult

Format = Literal["json", "text"]
FORMAT_VARIABLE = "FLYWHEEL_LOG_FORMAT"

LABELS_FIELD = "logging.googleapis.com/labels"
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"
SOURCE_FIELD = "logging.googleapis.com/sourceLocation"
SPECIAL_PREFIX = "logging.googleapis.com/"
# Cloud Logging's LogSeverity names
SEVERITIES = ("DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")

PROGRESS_LOGGER = "flywheel.progress"
RUNS_LOGGER = "flywheel.runs"
SUMMARY_EVENT = "run_summary"
EMAIL_MASK = "[email]"

TRACEPARENT_HEADER = "traceparent"
CLOUD_TRACE_HEADER = "X-Cloud-Trace-Context"
# functions-framework fills it (from Cloud Functions, or a fresh id) before the function runs
EXECUTION_ID_HEADER = "Function-Execution-Id"

_progress_log = logging.getLogger(PROGRESS_LOGGER)
_runs_log = logging.getLogger(RUNS_LOGGER)


# --- the run a record belongs to -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    trace_id: str
    span_id: str | None = None
    sampled: bool | None = None


@dataclass
class RunContext:
    function: str
    entry: str
    run_id: str
    trace: Trace | None = None
    as_of: str | None = None

    def labels(self) -> dict[str, str]:
        return {"function": self.function, "entry": self.entry, "run_id": self.run_id}


# one per request: set by the HTTP entry (or the CLI) for the records of its run, whichever module writes them
_current: ContextVar[RunContext | None] = ContextVar("flywheel_run", default=None)


def current() -> RunContext | None:
    return _current.get()


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def run_scope(
    function: str, *, entry: str | None = None, run_id: str | None = None, trace: Trace | None = None
) -> Iterator[RunContext]:
    context = RunContext(function=function, entry=entry or function, run_id=run_id or new_run_id(), trace=trace)
    token = _current.set(context)
    try:
        yield context
    finally:
        # a server thread serves the next request with a clean context
        _current.reset(token)


class Headers(Protocol):
    def get(self, key: str, default: Any = None, /) -> Any: ...


def request_scope(function: str, entry: str, headers: Headers) -> AbstractContextManager[RunContext]:
    """The run scope of one HTTP request: its run id is functions-framework's execution id (the same value as
    its `execution_id` label), its trace the request's trace header."""
    given = str(headers.get(EXECUTION_ID_HEADER) or "")
    run_id = given if _RUN_ID.fullmatch(given) else None
    return run_scope(function, entry=entry, run_id=run_id, trace=trace_of(headers))


def note_as_of(as_of: date) -> None:
    """The day the current run stands on, once it is known (after the body is parsed and bounded)."""
    context = _current.get()
    if context is not None:
        context.as_of = as_of.isoformat()


_RUN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([0-9]+))?")


def trace_of(headers: Headers) -> Trace | None:
    """W3C `traceparent` first, then Google's `X-Cloud-Trace-Context`; a malformed header is ignored."""
    parent = _TRACEPARENT.fullmatch(str(headers.get(TRACEPARENT_HEADER) or "").strip())
    if parent:
        version, trace_id, span_id, flags = parent.groups()
        if version != "ff" and trace_id.strip("0") and span_id.strip("0"):
            return Trace(trace_id, span_id, bool(int(flags, 16) & 1))
    cloud = _CLOUD_TRACE.fullmatch(str(headers.get(CLOUD_TRACE_HEADER) or "").strip())
    if cloud:
        trace_id, span, options = cloud.groups()
        if trace_id.strip("0"):
            # Cloud Logging wants the span as 16 hex digits; this header gives it in decimal
            span_id = f"{int(span):016x}" if span and 0 < int(span) < 2**64 else None
            return Trace(trace_id.lower(), span_id, None if options is None else options == "1")
    return None


# --- what runs log ---------------------------------------------------------------------------------------------


def progress(message: str) -> None:
    """The `progress` callback of a run's ports: an INFO entry in a function, a line on stderr in the CLI."""
    # stacklevel: the entry's source location is the service that reported progress, not this module
    _progress_log.info(message, stacklevel=2)


def run_started(function: str, as_of: date, *, dry_run: bool) -> None:
    """A run with this entry and no summary was cut off (a timeout, a crash): its checkpoint resumes it."""
    _runs_log.info(
        "%s as of %s: started%s",
        function,
        as_of.isoformat(),
        " (dry run)" if dry_run else "",
        extra={"event": "run_started", "as_of": as_of.isoformat(), "dry_run": dry_run},
        stacklevel=2,
    )


def run_summary(result: RunResult, **fields: Any) -> None:
    """The one summary entry of a run: the function's own counts, its actions by type and what happened to them.
    WARNING when an effect failed (refused, or a transient fault that the next trigger retries)."""
    report = result.report
    failed = report.total("failed") + report.transient_failures
    actions: dict[str, int] = {}
    for action in result.actions:
        actions[action.type] = actions.get(action.type, 0) + 1
    _runs_log.log(
        logging.WARNING if failed else logging.INFO,
        "%s as of %s: done%s%s",
        result.function,
        result.as_of.isoformat(),
        " (dry run)" if result.dry_run else "",
        f", {failed} effects failed" if failed else "",
        extra={
            "event": SUMMARY_EVENT,
            "as_of": result.as_of.isoformat(),
            "dry_run": result.dry_run,
            "summary": result.summary,
            "actions": dict(sorted(actions.items())),
            "effects": report.as_dict(),
            **fields,
        },
        stacklevel=2,
    )


# --- masking ---------------------------------------------------------------------------------------------------

# The domain part, found from each "@": scanning from the "@" keeps the search linear on any input, where one
# pattern for the whole address would retry the local part from every position of a long string.
_AT_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)+")
_LOCAL_CHARACTERS = frozenset("!#$%&'*+/=?^`{|}~.-")


def _local(character: str) -> bool:
    return character.isalnum() or character == "_" or character in _LOCAL_CHARACTERS


def mask_emails(text: str) -> str:
    """Every email address in `text` replaced by EMAIL_MASK (greedy: a neighbour that could belong to the
    address goes with it)."""
    if "@" not in text:
        return text
    pieces: list[str] = []
    last = 0
    for found in _AT_DOMAIN.finditer(text):
        start = found.start()
        # an "@" right after a masked address continues it: its domain must not be left behind either
        if start == 0 or not (_local(text[start - 1]) or start == last):
            continue
        begin = start
        while begin > last and _local(text[begin - 1]):
            begin -= 1
        pieces += [text[last:begin], EMAIL_MASK]
        last = found.end()
    pieces.append(text[last:])
    return "".join(pieces)


_MAX_DEPTH = 12
_ENCODER = JsonEncoder()


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON that any parser reads, every string masked: non-finite floats, integers too long to print,
    nesting beyond _MAX_DEPTH and objects json cannot encode become strings (objects through python-json-logger's
    encoder, as the library itself would)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, int):
        # str() of an integer over 4,300 digits raises (sys.get_int_max_str_digits)
        return value if value.bit_length() <= 1000 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, Mapping):
        return {mask_emails(str(key)): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item, depth + 1) for item in value]
    try:
        encoded = _ENCODER.default(value)
    except Exception:
        encoded = f"<{type(value).__name__}>"
    if isinstance(encoded, str):
        return mask_emails(encoded)
    return plain(encoded, depth + 1)


# --- formatters ------------------------------------------------------------------------------------------------


def severity(levelno: int) -> str:
    """Cloud Logging's severity for a Python level (a level between two names takes the lower one)."""
    for threshold, name in ((50, "CRITICAL"), (40, "ERROR"), (30, "WARNING"), (20, "INFO"), (1, "DEBUG")):
        if levelno >= threshold:
            return name
    return "DEFAULT"


class CloudLoggingFormatter(JsonFormatter):
    """One record, one JSON line in Cloud Logging's structured format, every email address masked."""

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        # the special fields come from here alone: a stray extra must not relabel a run or fake its severity
        for key in [k for k in log_data if isinstance(k, str) and k.startswith(SPECIAL_PREFIX)]:
            del log_data[key]
        # a dict logged as the message leaves record.message empty and brings its own "message", if any
        message = str(getattr(record, "message", "") or log_data.get("message") or "")
        # Error Reporting reads a stack trace from the message
        for extra in (log_data.pop("exc_info", None), log_data.pop("stack_info", None)):
            if extra:
                message = f"{message}\n{extra}" if message else str(extra)
        log_data["message"] = message
        log_data["severity"] = severity(record.levelno)
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        log_data["logger"] = record.name
        log_data[SOURCE_FIELD] = {"file": record.pathname, "line": str(record.lineno), "function": record.funcName}
        context = _current.get()
        if context is None:
            return
        log_data[LABELS_FIELD] = context.labels()
        if context.as_of is not None:
            log_data.setdefault("as_of", context.as_of)
        if context.trace is not None:
            trace = context.trace
            log_data[TRACE_FIELD] = (
                f"projects/{self.project}/traces/{trace.trace_id}" if self.project else trace.trace_id
            )
            if trace.span_id:
                log_data[SPAN_FIELD] = trace.span_id
            if trace.sampled is not None:
                log_data[SAMPLED_FIELD] = trace.sampled

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        normalized: dict[str, Any] = plain(log_data)
        return normalized


class TextFormatter(logging.Formatter):
    """The CLI's readable lines: `[function] message`, the level named from WARNING up, addresses masked."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        level = f"{record.levelname}: " if record.levelno >= logging.WARNING else ""
        context = _current.get()
        prefix = f"[{context.function}] " if context is not None else ""
        return mask_emails(f"{prefix}{level}{message}")


# --- set-up ----------------------------------------------------------------------------------------------------


class _CurrentStream(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout / sys.stderr is when a record is emitted: functions-framework swaps stdout
    for a wrapper during a request (LOG_EXECUTION_ID), and test runners swap both."""

    flywheel_handler = True

    def __init__(self, stream_name: Literal["stdout", "stderr"]) -> None:
        self._stream_name = stream_name
        super().__init__()

    @property
    def stream(self) -> Any:
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, _: Any) -> None:
        # StreamHandler.__init__ and setStream assign a stream: this handler always looks it up instead
        return None


def chosen_format(default: Format, stream: Any) -> tuple[Format, str | None]:
    """FLYWHEEL_LOG_FORMAT if it is `json` or `text`; otherwise `default`, or text on a terminal. The second value
    is a problem to report, once logging works."""
    given = os.environ.get(FORMAT_VARIABLE, "").strip().lower()
    if given in ("json", "text"):
        return ("json" if given == "json" else "text"), None
    problem = f"{FORMAT_VARIABLE}={given!r} is not json or text: ignored" if given else None
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError):
        terminal = False
    return ("text" if terminal else default), problem


def configure(*, stream: Literal["stdout", "stderr"], default: Format, project: str | None = None) -> Format:
    """Route every record through one handler on `stream`. Safe to call again (the handler is replaced).

    JSON logs every INFO entry; text (a person at a terminal) shows progress and warnings only."""
    fmt, problem = chosen_format(default, getattr(sys, stream))
    root = logging.getLogger()
    for handler in list(root.handlers):
        # ours from an earlier call, and the plain stream handlers functions-framework (LOG_EXECUTION_ID) or
        # basicConfig install, which would repeat each record as a line without a severity; anything else stays
        if getattr(handler, "flywheel_handler", False) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = _CurrentStream(stream)
    if fmt == "json":
        cloud_project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT") or None
        handler.setFormatter(CloudLoggingFormatter(project=cloud_project))
    else:
        handler.setFormatter(TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO if fmt == "json" else logging.WARNING)
    _progress_log.setLevel(logging.INFO)
    # warnings.warn output becomes a WARNING record rather than an unlabelled line on stderr
    logging.captureWarnings(True)
    if problem:
        logging.getLogger(__name__).warning(problem)
    return fmt


def configure_for_functions() -> Format:
    """At import of the Cloud Functions entry module: functions-framework sets up no logging on current runtimes,
    so without this INFO records are dropped and warnings reach Cloud Logging without a severity."""
    return configure(stream="stdout", default="json")


def configure_for_cli() -> Format:
    """The `flywheel` command: readable lines on stderr (stdout carries the command's own output)."""
    return configure(stream="stderr", default="text")
