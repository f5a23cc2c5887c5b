"""The client-side rate limiter and the retry policy of the HubSpot adapter, on a fake clock (no real sleeping)."""

from __future__ import annotations

import threading
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.adapters.ratelimit import (
    SAFETY_MARGIN_SECONDS,
    WINDOW_SECONDS,
    Failure,
    RequestFailed,
    RetryPolicy,
    RollingWindowLimiter,
    call_with_retries,
    parse_retry_after,
)
from flywheel.clock import RunBudget

SPAN = WINDOW_SECONDS + SAFETY_MARGIN_SECONDS


class FakeClock:
    """Monotonic time that only moves when someone sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter_on(clock: FakeClock, limit: int) -> RollingWindowLimiter:
    return RollingWindowLimiter(limit, monotonic=clock.monotonic, sleep=clock.sleep)


def most_starts_in_any_window(starts: list[float], window: float) -> int:
    ordered = sorted(starts)
    return max((i + 1 - bisect_left(ordered, t - window + 1e-9) for i, t in enumerate(ordered)), default=0)


# --- limiter -----------------------------------------------------------------------------------------------


def test_the_first_calls_up_to_the_limit_start_at_once_and_the_next_waits_for_the_window_to_roll() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 3)
    starts = []
    for _ in range(4):
        limiter.acquire()
        starts.append(clock.now)
    assert starts[:3] == [1000.0, 1000.0, 1000.0]
    assert starts[3] == pytest.approx(1000.0 + SPAN)


def test_a_limit_of_zero_never_waits() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 0)
    waits = [limiter.acquire() for _ in range(10_000)]
    assert waits == [0.0] * 10_000
    assert clock.slept == []


def test_calls_spread_out_over_time_are_not_delayed() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 5)
    for _ in range(50):
        assert limiter.acquire() == 0.0
        clock.now += 2.5  # 4 calls per 10 s, under a limit of 5


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=40),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.4), min_size=1, max_size=400),
)
def test_no_rolling_window_ever_holds_more_calls_than_the_limit(limit: int, gaps: list[float]) -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, limit)
    starts = []
    for gap in gaps:
        clock.now += gap  # the caller's own work between two calls
        limiter.acquire()
        starts.append(clock.now)
    assert most_starts_in_any_window(starts, WINDOW_SECONDS) <= limit


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=30),
    calls=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=3.0), st.floats(min_value=0.0, max_value=1.0)),
        min_size=1,
        max_size=300,
    ),
)
def test_an_honest_server_never_counts_more_than_the_limit_in_a_window_however_long_calls_take(
    limit: int, calls: list[tuple[float, float]]
) -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, limit)
    arrivals = []
    for latency, share_before_arrival in calls:
        with limiter.slot():
            arrivals.append(clock.now + latency * share_before_arrival)  # the server counts it on arrival
            clock.now += latency
    assert most_starts_in_any_window(arrivals, WINDOW_SECONDS) <= limit


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(min_value=10, max_value=200), calls=st.integers(min_value=1_000, max_value=5_000))
def test_a_long_run_of_quick_calls_goes_at_the_limit_within_fifteen_percent(limit: int, calls: int) -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, limit)
    for _ in range(calls):
        with limiter.slot():
            clock.now += 0.05  # a call's round trip
    ideal = calls / (limit / WINDOW_SECONDS)
    assert clock.now - 1000.0 <= 1.15 * ideal


def test_threads_sharing_one_limiter_never_get_the_same_slot() -> None:
    frozen = FakeClock()  # time stands still, so every reserved start shows in the waits
    limiter = RollingWindowLimiter(20, monotonic=frozen.monotonic, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            wait = limiter.acquire()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = sorted(round(SPAN * (n // 20), 6) for n in range(400))
    assert sorted(round(w, 6) for w in waits) == expected


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        RollingWindowLimiter(-1)


# --- retry policy ------------------------------------------------------------------------------------------

THROTTLED = Failure(status=429, message="rate limited", retry_after=2.0)
SERVER_ERROR = Failure(status=503, message="unavailable")
BAD_REQUEST = Failure(status=400, message="invalid")
NO_ANSWER = Failure(status=None, message="ReadTimeoutError")
NOT_CONNECTED = Failure(status=None, message="NewConnectionError", sent=False)


@pytest.mark.parametrize("repeat_safe", [True, False])
def test_a_throttled_request_is_always_retried_since_hubspot_did_not_process_it(repeat_safe: bool) -> None:
    assert RetryPolicy().should_retry(THROTTLED, retries_done=0, repeat_safe=repeat_safe)


def test_a_server_error_or_a_lost_answer_is_retried_only_when_repeating_is_harmless() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(SERVER_ERROR, retries_done=0, repeat_safe=True)
    assert policy.should_retry(NO_ANSWER, retries_done=0, repeat_safe=True)
    assert not policy.should_retry(SERVER_ERROR, retries_done=0, repeat_safe=False)
    assert not policy.should_retry(NO_ANSWER, retries_done=0, repeat_safe=False)


def test_a_request_that_never_left_is_retried_even_when_repeating_would_not_be_harmless() -> None:
    assert RetryPolicy().should_retry(NOT_CONNECTED, retries_done=0, repeat_safe=False)


def test_a_refused_request_is_never_retried() -> None:
    assert not RetryPolicy().should_retry(BAD_REQUEST, retries_done=0, repeat_safe=True)


def test_retries_stop_at_the_maximum() -> None:
    policy = RetryPolicy(max_retries=3)
    assert policy.should_retry(THROTTLED, retries_done=2, repeat_safe=True)
    assert not policy.should_retry(THROTTLED, retries_done=3, repeat_safe=True)


def test_retry_after_is_honoured_as_sent() -> None:
    assert RetryPolicy().delay(THROTTLED, retries_done=4) == 2.0


def test_a_huge_retry_after_is_capped() -> None:
    assert RetryPolicy(max_retry_after=60).delay(Failure(429, "x", retry_after=86_400), retries_done=0) == 60


@given(retries_done=st.integers(min_value=0, max_value=30), draw=st.floats(min_value=0.0, max_value=0.999999))
def test_backoff_doubles_each_time_up_to_the_cap_with_jitter_between_half_and_full(
    retries_done: int, draw: float
) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, random=lambda: draw)
    full = min(30.0, 0.5 * 2**retries_done)
    assert 0.5 * full <= policy.delay(SERVER_ERROR, retries_done=retries_done) < full


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 10 ", 10.0), ("0.5", 0.5), ("0", 0.0), (None, None), ("soon", None), ("-1", None)],
)
def test_retry_after_is_read_in_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


# --- call_with_retries -------------------------------------------------------------------------------------


class Flaky:
    """Fails with the given failures in order, then answers."""

    def __init__(self, *failures: Failure) -> None:
        self.failures = list(failures)
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.failures:
            raise FailedAttempt(self.failures.pop(0))
        return "answer"


class FailedAttempt(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


def classify(error: Exception) -> Failure | None:
    return error.failure if isinstance(error, FailedAttempt) else None


def run(
    request: Flaky,
    clock: FakeClock,
    *,
    repeat_safe: bool = True,
    max_retries: int = 6,
    budget: RunBudget | None = None,
) -> str:
    counted: list[int] = []
    try:
        return call_with_retries(
            request,
            classify=classify,
            policy=RetryPolicy(max_retries=max_retries, random=lambda: 0.0),
            limiter=limiter_on(clock, 0),
            sleep=clock.sleep,
            repeat_safe=repeat_safe,
            on_attempt=lambda: counted.append(1),
            budget=budget,
        )
    finally:
        assert len(counted) == request.attempts  # every attempt is counted, the failed ones too


def test_a_call_that_recovers_returns_its_answer_after_waiting_as_told() -> None:
    clock = FakeClock()
    request = Flaky(THROTTLED, SERVER_ERROR)
    assert run(request, clock) == "answer"
    assert request.attempts == 3
    assert clock.slept == [2.0, 0.5]  # Retry-After, then the second backoff (1 s) at the lowest jitter


def test_a_create_under_a_server_error_is_tried_once_and_reported_as_transient() -> None:
    clock = FakeClock()
    request = Flaky(SERVER_ERROR)
    with pytest.raises(RequestFailed) as failed:
        run(request, clock, repeat_safe=False)
    assert request.attempts == 1
    assert failed.value.attempts == 1
    assert failed.value.failure.transient


def test_a_retry_that_would_wait_past_the_run_s_time_budget_is_not_made() -> None:
    clock = FakeClock()
    budget = RunBudget(monotonic=clock.monotonic)
    budget.start(3.0)
    request = Flaky(THROTTLED, THROTTLED)

    with pytest.raises(RequestFailed) as failed:
        run(request, clock, budget=budget)

    # the first Retry-After (2 s) fits in the 3 s left; the second would end past the budget
    assert clock.slept == [2.0]
    assert request.attempts == 2
    assert failed.value.out_of_time and failed.value.failure.transient


def test_without_a_budget_retries_wait_as_long_as_the_policy_says() -> None:
    clock = FakeClock()
    budget = RunBudget(monotonic=clock.monotonic)
    budget.start(None)

    assert run(Flaky(THROTTLED, THROTTLED), clock, budget=budget) == "answer"
    assert clock.slept == [2.0, 2.0]


def test_a_call_that_keeps_failing_gives_up_after_the_last_retry() -> None:
    clock = FakeClock()
    request = Flaky(*[SERVER_ERROR] * 10)
    with pytest.raises(RequestFailed) as failed:
        run(request, clock, max_retries=3)
    assert request.attempts == 4
    assert failed.value.attempts == 4
    assert failed.value.failure.status == 503


def test_a_refused_call_fails_at_once_and_is_not_transient() -> None:
    clock = FakeClock()
    request = Flaky(BAD_REQUEST)
    with pytest.raises(RequestFailed) as failed:
        run(request, clock)
    assert request.attempts == 1
    assert not failed.value.failure.transient
    assert clock.slept == []


def test_an_exception_that_is_not_a_failed_call_propagates_untouched() -> None:
    def broken() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(
            broken,
            classify=classify,
            policy=RetryPolicy(),
            limiter=RollingWindowLimiter(0),
            sleep=lambda _: None,
            repeat_safe=True,
        )


def test_every_attempt_goes_through_the_limiter() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, 2)
    request = Flaky(Failure(503, "x", retry_after=0.0), Failure(503, "x", retry_after=0.0))
    call_with_retries(
        request, classify=classify, policy=RetryPolicy(), limiter=limiter, sleep=clock.sleep, repeat_safe=True
    )
    # three attempts under a limit of 2 per window: the third had to wait for the window to roll
    assert clock.now - 1000.0 == pytest.approx(SPAN)
