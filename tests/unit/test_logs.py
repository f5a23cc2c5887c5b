"""Structured logs: every record is one JSON line Cloud Logging reads (a valid severity, the run's labels and trace),
never with an email address in it, whatever the message or the extra fields hold."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel import logs
from flywheel.domain.models import CreateTask, ExecutionReport, RunResult
from flywheel.logs import EMAIL_MASK, SEVERITIES, CloudLoggingFormatter, TextFormatter, Trace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "flywheel"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
RESERVED = set(logging.LogRecord("x", logging.INFO, "f.py", 1, "m", None, None).__dict__) | {"message", "asctime"}


def record(message: Any, level: int = logging.INFO, exc_info: Any = None, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("flywheel.test", level, "test_logs.py", 7, message, None, exc_info)
    made.__dict__.update(extra)
    return made


def line_of(made: logging.LogRecord, project: str | None = None) -> dict[str, Any]:
    line = CloudLoggingFormatter(project=project).format(made)
    assert "\n" not in line, "one record, one line"
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- the JSON line ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (logging.DEBUG, "DEBUG"),
        (logging.INFO, "INFO"),
        (logging.WARNING, "WARNING"),
        (logging.ERROR, "ERROR"),
        (logging.CRITICAL, "CRITICAL"),
        (25, "INFO"),
        (0, "DEFAULT"),
    ],
)
def test_python_levels_become_cloud_logging_severities(level: int, expected: str) -> None:
    assert line_of(record("m", level))["severity"] == expected


@given(level=st.integers(min_value=-10, max_value=200))
def test_any_level_has_a_severity_cloud_logging_knows(level: int) -> None:
    assert line_of(record("m", level))["severity"] in SEVERITIES


json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates() | st.binary(max_size=20)
nested = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
        | st.tuples(children, children)
        | st.sets(st.integers(), max_size=3)
    ),
    max_leaves=20,
)
extra_names = st.text(min_size=1, max_size=20).filter(lambda name: name not in RESERVED and not name.startswith("_"))


@settings(max_examples=300)
@given(message=st.text(), extra=st.dictionaries(extra_names, nested, max_size=5))
def test_any_message_and_any_extra_fields_make_one_valid_json_line(message: str, extra: dict[str, Any]) -> None:
    parsed = line_of(record(message, **extra))

    assert parsed["severity"] == "INFO"
    assert isinstance(parsed["message"], str)
    # a stray extra cannot fake the fields Cloud Logging reads
    assert not any(key.startswith(logs.SPECIAL_PREFIX) and key != logs.SOURCE_FIELD for key in parsed)


def test_values_json_cannot_carry_become_strings() -> None:
    deep: list[Any] = [1]
    for _ in range(20):
        deep = [deep]
    parsed = line_of(record("m", ratio=float("nan"), huge=10**5000, thing=object(), deep=deep))

    assert parsed["ratio"] == "nan"
    assert parsed["huge"].startswith("<integer of ")
    assert parsed["thing"].startswith("<object object")
    assert "<nested too deeply>" in json.dumps(parsed["deep"])


def test_an_error_carries_its_traceback_in_the_message_for_error_reporting() -> None:
    try:
        raise RuntimeError("the portal went away")
    except RuntimeError:
        parsed = line_of(record("nurture_step failed", logging.ERROR, exc_info=sys.exc_info()))

    assert parsed["severity"] == "ERROR"
    assert parsed["message"].startswith("nurture_step failed\nTraceback (most recent call last):")
    assert "RuntimeError: the portal went away" in parsed["message"]
    assert "exc_info" not in parsed


def test_a_stray_extra_cannot_relabel_the_run_or_change_the_severity() -> None:
    parsed = line_of(record("m", logging.ERROR, severity="DEBUG", **{logs.LABELS_FIELD: {"run_id": "forged"}}))

    assert parsed["severity"] == "ERROR"
    assert logs.LABELS_FIELD not in parsed  # outside a run there are no labels at all


# --- emails ----------------------------------------------------------------------------------------------------

around = st.text(max_size=30)


@settings(max_examples=300)
@given(email=st.emails(), before=around, after=around)
def test_an_email_address_anywhere_in_the_message_is_masked(email: str, before: str, after: str) -> None:
    parsed = line_of(record(f"{before}{email}{after}"))

    assert email not in parsed["message"]
    assert EMAIL_MASK in parsed["message"]


@settings(max_examples=200)
@given(email=st.emails(), key=extra_names, where=st.sampled_from(["value", "list", "key", "nested", "object"]))
def test_an_email_address_in_any_extra_field_is_masked(email: str, key: str, where: str) -> None:
    class Contact:
        def __str__(self) -> str:
            return f"Contact<{email}>"

    value: Any = {
        "value": email,
        "list": ["a", email],
        "key": {email: 1},
        "nested": {"contact": {"to": [f"Laura <{email}>"]}},
        "object": Contact(),
    }[where]
    line = CloudLoggingFormatter().format(record("sent", **{key: value}))

    assert email not in json.dumps(json.loads(line), ensure_ascii=False)


@given(email=st.emails())
def test_an_email_address_in_a_traceback_is_masked(email: str) -> None:
    try:
        raise KeyError(email)
    except KeyError:
        parsed = line_of(record("lookup failed", logging.ERROR, exc_info=sys.exc_info()))

    assert email not in parsed["message"]


@given(text=st.text())
def test_text_without_an_address_is_left_as_it_is(text: str) -> None:
    if "@" not in text:
        assert logs.mask_emails(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "owner anna.rossi@sicomputer.it has 3 tasks",
        "to <mario_bianchi+promo@mail.example.co.uk>.",
        "a@b.cc@d.ee",  # two addresses run together: neither domain is left behind
        "jürgen@müller.de",
    ],
)
def test_common_and_odd_addresses_are_masked(text: str) -> None:
    masked = logs.mask_emails(text)
    assert "@" not in masked
    assert EMAIL_MASK in masked


@pytest.mark.parametrize("text", ["@functions_framework.http", "user@localhost", "50 @ 3%", "@ the end"])
def test_what_is_not_an_address_is_kept(text: str) -> None:
    assert logs.mask_emails(text) == text


def test_no_log_call_in_the_product_passes_an_email_or_a_name() -> None:
    """The masking is a safety net: log calls name records by id and addresses by their digest."""
    personal = re.compile(r"email|(^|_)(first|last|full|owner|contact|company)?_?name$", re.IGNORECASE)
    methods = {"debug", "info", "warning", "error", "exception", "critical", "log"}
    found: list[str] = []
    for path in SHARED.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = node if isinstance(node, ast.Call) else None
            if call is None or not isinstance(call.func, ast.Attribute) or call.func.attr not in methods:
                continue
            if not (isinstance(call.func.value, ast.Name) and re.fullmatch(r"_?\w*log(ger)?", call.func.value.id)):
                continue
            for argument in [*call.args[1:], *(k.value for k in call.keywords)]:
                digested = {
                    id(inner)
                    for sub in ast.walk(argument)
                    if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "address_digest"
                    for inner in ast.walk(sub)
                }
                for sub in ast.walk(argument):
                    name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else ""
                    if name and personal.search(name) and id(sub) not in digested:
                        found.append(f"{path.relative_to(SHARED)}:{call.lineno} logs {name}")
    assert found == []


# --- the run's labels, day and trace ---------------------------------------------------------------------------


def test_a_record_inside_a_run_carries_its_labels_and_day() -> None:
    with logs.run_scope("nurture_step", entry="nurture_step_webhook", run_id="run-1"):
        logs.note_as_of(date(2026, 11, 29))
        parsed = line_of(record("sequences read"))

    assert parsed[logs.LABELS_FIELD] == {"function": "nurture_step", "entry": "nurture_step_webhook", "run_id": "run-1"}
    assert parsed["as_of"] == "2026-11-29"
    assert logs.LABELS_FIELD not in line_of(record("after the run")), "the scope ends with the run"


def test_the_trace_names_the_project_when_it_is_known() -> None:
    trace = Trace(TRACE_ID, "00f067aa0ba902b7", True)
    with logs.run_scope("cart_watch", trace=trace):
        with_project = line_of(record("m"), project="flywheel-prod")
        without = line_of(record("m"))

    assert with_project[logs.TRACE_FIELD] == f"projects/flywheel-prod/traces/{TRACE_ID}"
    assert with_project[logs.SPAN_FIELD] == "00f067aa0ba902b7"
    assert with_project[logs.SAMPLED_FIELD] is True
    assert without[logs.TRACE_FIELD] == TRACE_ID


def test_the_trace_comes_from_traceparent() -> None:
    trace = logs.trace_of({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    assert trace == Trace(TRACE_ID, "00f067aa0ba902b7", True)


def test_the_trace_comes_from_x_cloud_trace_context_with_its_decimal_span_in_hex() -> None:
    trace = logs.trace_of({"X-Cloud-Trace-Context": f"{TRACE_ID.upper()}/74;o=0"})
    assert trace == Trace(TRACE_ID, "000000000000004a", False)
    assert logs.trace_of({"X-Cloud-Trace-Context": TRACE_ID}) == Trace(TRACE_ID, None, None)


def test_traceparent_wins_over_x_cloud_trace_context() -> None:
    other = "0af7651916cd43dd8448eb211c80319c"
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-00", "X-Cloud-Trace-Context": f"{other}/1;o=1"}
    assert logs.trace_of(headers) == Trace(TRACE_ID, "00f067aa0ba902b7", False)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"},  # W3C: an all-zero trace id is invalid
        {"traceparent": f"ff-{TRACE_ID}-00f067aa0ba902b7-01"},
        {"traceparent": "garbage", "X-Cloud-Trace-Context": "not/a;trace"},
    ],
)
def test_a_missing_or_malformed_trace_header_gives_no_trace(headers: dict[str, str]) -> None:
    assert logs.trace_of(headers) is None


@given(traceparent=st.text(max_size=80), cloud=st.text(max_size=80))
def test_any_trace_header_is_read_without_an_error(traceparent: str, cloud: str) -> None:
    trace = logs.trace_of({"traceparent": traceparent, "X-Cloud-Trace-Context": cloud})
    if trace is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", trace.trace_id)
        assert trace.span_id is None or re.fullmatch(r"[0-9a-f]{16}", trace.span_id)


def test_the_run_id_is_functions_frameworks_execution_id_when_it_is_one() -> None:
    with logs.request_scope("sirank_recalc", "sirank_recalc", {"Function-Execution-Id": "abc123XYZ"}) as context:
        assert context.run_id == "abc123XYZ"
    with logs.request_scope("sirank_recalc", "sirank_recalc", {"Function-Execution-Id": "a b\n{}"}) as context:
        assert re.fullmatch(r"[0-9a-f]{16}", context.run_id)


# --- runs: summary and progress --------------------------------------------------------------------------------


def result(report: ExecutionReport) -> RunResult:
    task = CreateTask(key="cold_segment:1:2026-05-02", company_id="1", owner_id="7", subject="Richiamare", due=None)
    return RunResult(
        function="cold_segment",
        as_of=date(2026, 11, 29),
        dry_run=False,
        actions=[task, task],
        summary={"cold": 12, "queued": 2},
        report=report,
    )


def captured(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [line_of(r) for r in caplog.records]


def test_a_run_writes_one_summary_entry_with_its_counts(caplog: pytest.LogCaptureFixture) -> None:
    report = ExecutionReport()
    report.count("created", result(report).actions[0])
    caplog.set_level(logging.INFO, logger=logs.RUNS_LOGGER)

    with logs.run_scope("cold_segment", run_id="r1"):
        logs.run_summary(result(report))
        (entry,) = captured(caplog)

    assert entry["event"] == logs.SUMMARY_EVENT
    assert entry["severity"] == "INFO"
    assert entry["summary"] == {"cold": 12, "queued": 2}
    assert entry["actions"] == {"create_task": 2}
    assert entry["effects"] == {"created:create_task": 1}
    assert (entry["as_of"], entry["dry_run"]) == ("2026-11-29", False)
    assert entry[logs.LABELS_FIELD]["run_id"] == "r1"


def test_a_run_with_failed_effects_summarises_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    report = ExecutionReport()
    report.count("failed_transient", result(report).actions[0])
    caplog.set_level(logging.INFO, logger=logs.RUNS_LOGGER)

    logs.run_summary(result(report))

    (entry,) = captured(caplog)
    assert entry["severity"] == "WARNING"
    assert "1 effects failed" in entry["message"]


def test_progress_is_an_info_entry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=logs.PROGRESS_LOGGER)
    logs.progress("sirank: 5000 companies read")
    (entry,) = captured(caplog)
    assert (entry["severity"], entry["message"]) == ("INFO", "sirank: 5000 companies read")


# --- set-up ----------------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def emit_through_root(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, **configure: Any) -> list[str]:
    monkeypatch.setattr(sys, "stdout", stream)
    logs.configure(stream="stdout", **configure)
    with logs.run_scope("fido_push", run_id="r9"):
        logs.progress("searching companies")
        logging.getLogger("flywheel.http").warning("fido_push refused (401): missing token for anna@example.it")
        logging.getLogger("flywheel.adapters.hubspot").info("created tasks 12 with 1 associations")
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restored_logging")
def test_a_function_writes_json_lines_on_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.FORMAT_VARIABLE, raising=False)
    lines = emit_through_root(monkeypatch, io.StringIO(), default="json")

    entries = [json.loads(line) for line in lines]
    assert [e["severity"] for e in entries] == ["INFO", "WARNING", "INFO"]
    assert all(e[logs.LABELS_FIELD]["run_id"] == "r9" for e in entries)
    assert "anna@example.it" not in "\n".join(lines)


@pytest.mark.usefixtures("restored_logging")
def test_on_a_terminal_the_lines_are_readable_and_show_progress_and_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.FORMAT_VARIABLE, raising=False)
    lines = emit_through_root(monkeypatch, Terminal(), default="json")

    assert lines == [
        "[fido_push] searching companies",
        "[fido_push] WARNING: fido_push refused (401): missing token for [email]",
    ]


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize(("given", "default", "expected"), [("json", "text", "json"), ("TEXT", "json", "text")])
def test_flywheel_log_format_overrides_the_default(
    monkeypatch: pytest.MonkeyPatch, given: str, default: logs.Format, expected: str
) -> None:
    monkeypatch.setenv(logs.FORMAT_VARIABLE, given)
    lines = emit_through_root(monkeypatch, Terminal(), default=default)
    assert lines[0].startswith("{") == (expected == "json")


@pytest.mark.usefixtures("restored_logging")
def test_an_unknown_log_format_is_reported_and_the_default_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.FORMAT_VARIABLE, "yaml")
    lines = emit_through_root(monkeypatch, io.StringIO(), default="json")

    first = json.loads(lines[0])
    assert first["severity"] == "WARNING" and "FLYWHEEL_LOG_FORMAT='yaml'" in first["message"]


@pytest.mark.usefixtures("restored_logging")
def test_configuring_again_replaces_the_handler_and_the_plain_stream_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.FORMAT_VARIABLE, raising=False)
    root = logging.getLogger()
    # what functions-framework's LOG_EXECUTION_ID set-up (or basicConfig) leaves on the root logger
    root.addHandler(logging.StreamHandler(io.StringIO()))
    kept = logging.NullHandler()
    root.addHandler(kept)

    logs.configure(stream="stdout", default="json")
    logs.configure(stream="stdout", default="json")

    assert kept in root.handlers
    assert [type(h) for h in root.handlers if isinstance(h, logs._CurrentStream)] == [logs._CurrentStream]
    assert not [h for h in root.handlers if type(h) is logging.StreamHandler]


def test_the_text_formatter_masks_addresses_and_names_the_level() -> None:
    line = TextFormatter().format(record("owner luca@sicomputer.it not found", logging.ERROR))
    assert line == f"ERROR: owner {EMAIL_MASK} not found"
