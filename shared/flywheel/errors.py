"""The errors a caller is told about, as one small hierarchy, each kind with its HTTP status and CLI exit code.

`http.py` and `cli.py` both answer through `flywheel.runner.failure_of`, which reads these two numbers: the same
error means the same thing whichever way a run was started. None of these derive from ValueError or LookupError,
so that an `except ValueError` meant for parsing a number never swallows a refused request, and a `KeyError` from
a bug is never mistaken for "not found".
"""

from __future__ import annotations

EXIT_FAILED = 1  # worth retrying: HubSpot or the state store failed
EXIT_BAD_INPUT = 2  # retrying the same command cannot help: bad options, bad configuration


class FlywheelError(Exception):
    http_status = 500
    exit_code = EXIT_FAILED


class BadInput(FlywheelError):
    """The request itself is wrong: nothing was changed, and the same request will fail again."""

    http_status = 400
    exit_code = EXIT_BAD_INPUT


class NotFound(BadInput):
    """The request names a function or entry that does not exist."""

    http_status = 404


class PayloadTooLarge(BadInput):
    http_status = 413


class AuthError(FlywheelError):
    """The caller did not prove it may run functions (app token, or HubSpot's webhook signature)."""

    http_status = 401
    exit_code = EXIT_BAD_INPUT


class ConfigurationError(FlywheelError):
    """A setting names something Flywheel cannot build (an unknown state or mailer URL, say), or a secret a run
    needs is missing or too weak. The message names the setting, never a secret's value."""

    http_status = 500
    exit_code = EXIT_BAD_INPUT


class HubSpotRefused(FlywheelError):
    """HubSpot answered that the request is wrong: do not hammer it with the same request."""

    http_status = 502


class TransientError(FlywheelError):
    """A fault that may pass (HubSpot throttling or down, a concurrent writer): the caller should retry."""

    http_status = 503
