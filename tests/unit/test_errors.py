"""Errors are mapped once: the same error gives the same HTTP status and CLI exit code wherever it is raised."""

from __future__ import annotations

import pytest

from flywheel.errors import EXIT_BAD_INPUT, EXIT_FAILED, ConfigurationError, FlywheelError
from flywheel.ports import CrmError, StaleSequence
from flywheel.runner import AsOfOutOfRange, NoWebhook, Unauthorized, failure_of
from flywheel.services.registry import UnknownFunction
from flywheel.webhooks import InvalidPayload, InvalidSignature


@pytest.mark.parametrize(
    ("error", "status", "exit_code"),
    [
        (AsOfOutOfRange("as_of 0001-01-01 is outside the range"), 400, EXIT_BAD_INPUT),
        (InvalidPayload("no webhook events"), 400, EXIT_BAD_INPUT),
        (UnknownFunction("unknown function 'x'"), 404, EXIT_BAD_INPUT),
        (NoWebhook("sirank_recalc has no webhook entry"), 404, EXIT_BAD_INPUT),
        (Unauthorized("missing token"), 401, EXIT_BAD_INPUT),
        (InvalidSignature("signature mismatch"), 401, EXIT_BAD_INPUT),
        (ConfigurationError("FLYWHEEL_STATE: expected sqlite:///PATH"), 500, EXIT_BAD_INPUT),
        (CrmError("property does not exist", status=400), 502, EXIT_FAILED),
        (CrmError("throttled", status=429, transient=True), 503, EXIT_FAILED),
        (StaleSequence("sequence nurture/1 is at version 2, not 1"), 503, EXIT_FAILED),
    ],
)
def test_each_kind_of_error_has_one_status_and_one_exit_code(error: Exception, status: int, exit_code: int) -> None:
    failure = failure_of(error)

    assert failure is not None
    assert (failure.status, failure.exit_code) == (status, exit_code)


def test_a_bug_is_not_dressed_up_as_a_known_failure() -> None:
    assert failure_of(KeyError("company_id")) is None
    assert failure_of(ValueError("could not convert")) is None


def test_no_flywheel_error_is_a_value_error_or_a_lookup_error() -> None:
    """An `except ValueError` around a number parse must never swallow a refused request, nor a KeyError from a
    bug pass for "not found"."""
    kinds = [UnknownFunction, NoWebhook, InvalidPayload, InvalidSignature, ConfigurationError, CrmError]
    assert all(issubclass(kind, FlywheelError) for kind in kinds)
    assert not any(issubclass(kind, ValueError | LookupError) for kind in kinds)
