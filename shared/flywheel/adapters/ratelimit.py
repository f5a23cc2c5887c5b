"""Staying inside HubSpot's ten-second rate limit, and retrying what may be retried.

`RollingWindowLimiter` lets at most `limit` calls reach the server in any rolling window (10 s by default):
a call that would be the `limit + 1`-th in the window waits until the oldest one has left it.

`RetryPolicy` decides whether a failed call is tried again and after how long: 429 always (HubSpot did not
process the request), 5xx and network errors only when repeating the request is harmless, `Retry-After` when the
server sent one, exponential backoff with jitter otherwise. `call_with_retries` ties the two together.
The clock, the sleep and the randomness are injected so that both can be tested without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from flywheel.clock import RunBudget

T = TypeVar("T")

WINDOW_SECONDS = 10.0
# Covers the server and the client reading their clocks a little apart, and a call still in flight when the
# window is checked (its arrival time is then only known to lie after its start).
SAFETY_MARGIN_SECONDS = 0.1


class RollingWindowLimiter:
    """At most `limit` calls in any rolling `window` seconds, as an honest server counts them; 0 = off.

    A server counts a call when it arrives, which the client never sees: it lies between the moment the
    request left and the moment the answer came back. So each call is stamped with its start, and re-stamped
    with its end once it has completed (`slot()`); the `limit + 1`-th call waits until the call `limit` places
    before it is a whole window (plus a small margin) behind. Then no server window ever holds more than
    `limit` calls, however long the calls take. Reservations are made under a lock and slept outside it, so
    threads queue in order and none busy-waits. Thread-safe.
    """

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        margin: float = SAFETY_MARGIN_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 0:
            raise ValueError("rate limit must be 0 (off) or positive")
        self.limit = limit
        self.span = window + margin
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        # stamps of the last `limit` calls in the order they were let through: [start], then [end] once done
        self._stamps: deque[list[float]] = deque(maxlen=max(limit, 1))

    def acquire(self) -> float:
        """Wait for room for one call taken as instantaneous; returns the seconds waited."""
        return self._reserve()[1]

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Wait for room for one call and hold it while the call runs; yields the seconds waited."""
        stamp, wait = self._reserve()
        try:
            yield wait
        finally:
            if stamp is not None:
                ended = self._monotonic()
                with self._lock:
                    stamp[0] = max(stamp[0], ended)

    def _reserve(self) -> tuple[list[float] | None, float]:
        if self.limit == 0:
            return None, 0.0
        with self._lock:
            now = self._monotonic()
            start = now
            if len(self._stamps) == self.limit:
                start = max(now, self._stamps[0][0] + self.span)
            stamp = [start]
            self._stamps.append(stamp)
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return stamp, max(wait, 0.0)


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one attempt. `status` is None when no HTTP answer arrived (network, timeout);
    `sent` is False when the request certainly never reached the server (connection refused)."""

    status: int | None
    message: str
    retry_after: float | None = None
    sent: bool = True

    @property
    def transient(self) -> bool:
        """The same request may succeed later: throttled, server error, or no answer at all."""
        return self.status is None or self.status == 429 or self.status >= 500


class RequestFailed(Exception):
    """A call that failed for good: not retryable, or out of retries. `attempts` counts every try."""

    def __init__(self, failure: Failure, attempts: int, *, out_of_time: bool = False) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.attempts = attempts
        # retryable, but the run's time budget had no room for the wait
        self.out_of_time = out_of_time


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait. Backoff n (0-based) is base * 2**n capped at max_delay, scaled by a
    random factor in [0.5, 1.0) so that concurrent clients do not retry in lockstep."""

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    # longest Retry-After honoured as such; a larger value is treated as a sign of a misbehaving proxy
    max_retry_after: float = 120.0
    random: Callable[[], float] = random.random

    def should_retry(self, failure: Failure, *, retries_done: int, repeat_safe: bool) -> bool:
        if retries_done >= self.max_retries:
            return False
        if failure.status == 429 or not failure.sent:
            return True  # the server did not act on the request: repeating it is always harmless
        if failure.transient:
            return repeat_safe
        return False

    def delay(self, failure: Failure, *, retries_done: int) -> float:
        if failure.retry_after is not None and failure.retry_after >= 0:
            return min(failure.retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * 2.0**retries_done)
        jitter: float = self.random()
        return backoff * (0.5 + jitter / 2)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (HubSpot sends seconds); None when absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def call_with_retries(
    request: Callable[[], T],
    *,
    classify: Callable[[Exception], Failure | None],
    policy: RetryPolicy,
    limiter: RollingWindowLimiter,
    sleep: Callable[[float], None],
    repeat_safe: bool,
    on_attempt: Callable[[], None] = lambda: None,
    budget: RunBudget | None = None,
) -> T:
    """Run `request` through the limiter, retrying as `policy` allows and as the run's `budget` leaves time for.

    `classify` turns an exception into a Failure, or None for exceptions that are bugs, not failed calls
    (they propagate untouched). `on_attempt` is called once per HTTP attempt, before it is made.
    """
    retries_done = 0
    while True:
        try:
            with limiter.slot():
                on_attempt()
                return request()
        except Exception as error:
            failure = classify(error)
            if failure is None:
                raise
            if not policy.should_retry(failure, retries_done=retries_done, repeat_safe=repeat_safe):
                raise RequestFailed(failure, attempts=retries_done + 1) from error
            delay = policy.delay(failure, retries_done=retries_done)
            if budget is not None and not budget.allows(delay):
                raise RequestFailed(failure, attempts=retries_done + 1, out_of_time=True) from error
            sleep(delay)
            retries_done += 1
