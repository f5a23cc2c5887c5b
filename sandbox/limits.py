"""The portal's limits and injected faults: HubSpot's batch, page and search sizes, the rolling ten-second rate
limit, the chaos settings (5xx, 429 and connection-reset faults, latency, search lag) and the call accounting
(`/_sandbox/stats`).

Settings and the random draw of faults outlive a portal reset; the call counters do not.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.errors import bad_request

MAX_BATCH_INPUTS = 100
MAX_LIST_LIMIT = 100
MAX_SEARCH_LIMIT = 200
MAX_SEARCH_RESULTS = 10_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS = 25
RATE_WINDOW_SECONDS = 10.0

# What admit_call answers: (retry-after seconds if rate limited, latency seconds, fault)
Admission = tuple[float | None, float, int | str | None]


@dataclass
class Settings:
    rate_limit: int = 190
    search_lag_seconds: float = 0.0
    fault_rate: float = 0.0
    latency_ms: int = 0
    # chaos: a share of calls answered 429 with Retry-After, and a share whose connection is reset (before the
    # portal acts, or after it acted and before the answer left)
    throttle_rate: float = 0.0
    reset_rate: float = 0.0


class Limits:
    """The settings in force, the rate window and the call counters. Called under the store lock."""

    def __init__(self, settings: Settings, seed: int) -> None:
        self.settings = settings
        self._random = random.Random(seed)
        self.reset_counters()

    def reset_counters(self) -> None:
        self._calls: Counter[str] = Counter()
        self._rate_limited = 0
        self._faults: Counter[str] = Counter()
        self._recent_calls: deque[float] = deque()

    def configure(
        self,
        *,
        rate_limit: int | None,
        search_lag_seconds: float | None,
        fault_rate: float | None,
        latency_ms: int | None,
        throttle_rate: float | None,
        reset_rate: float | None,
        on_search_lag: Callable[[], None],
    ) -> None:
        """Change the settings given (not None); `on_search_lag` runs when the search lag is set."""
        for name, rate in (("throttle_rate", throttle_rate), ("reset_rate", reset_rate)):
            if rate is not None:
                if not 0.0 <= float(rate) <= 1.0:
                    raise bad_request(f"{name} must be between 0 and 1.")
                setattr(self.settings, name, float(rate))
        if rate_limit is not None:
            self.settings.rate_limit = int(rate_limit)
            self._recent_calls.clear()
        if search_lag_seconds is not None:
            self.settings.search_lag_seconds = float(search_lag_seconds)
            on_search_lag()
        if fault_rate is not None:
            if not 0.0 <= float(fault_rate) <= 1.0:
                raise bad_request("fault_rate must be between 0 and 1.")
            self.settings.fault_rate = float(fault_rate)
        if latency_ms is not None:
            self.settings.latency_ms = int(latency_ms)

    def settings_view(self) -> dict[str, Any]:
        return {
            "rate_limit": self.settings.rate_limit,
            "search_lag_seconds": self.settings.search_lag_seconds,
            "fault_rate": self.settings.fault_rate,
            "latency_ms": self.settings.latency_ms,
            "throttle_rate": self.settings.throttle_rate,
            "reset_rate": self.settings.reset_rate,
        }

    def stats(self) -> dict[str, Any]:
        return {
            "calls": {"total": sum(self._calls.values()), "by_endpoint": dict(self._calls)},
            "rate_limited": self._rate_limited,
            "faults_injected": dict(self._faults),
        }

    def count_call(self, endpoint: str) -> None:
        self._calls[endpoint] += 1

    def admit_call(self, endpoint: str) -> Admission:
        """Count one API call and apply the limits: (retry-after seconds if rate limited, latency s, fault), the
        fault an HTTP status (502, 503 before acting, 504 after) or "reset_before" / "reset_after".

        A call refused by the rate limit does not use up the window, so a client that waits Retry-After gets in.
        """
        self._calls[endpoint] += 1
        settings = self.settings
        limit = settings.rate_limit
        if limit > 0:
            now = time.monotonic()
            window = self._recent_calls
            while window and now - window[0] >= RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                self._rate_limited += 1
                return max(1.0, math.ceil(RATE_WINDOW_SECONDS - (now - window[0]))), 0.0, None
            window.append(now)
        if settings.throttle_rate > 0 and self._random.random() < settings.throttle_rate:
            self._rate_limited += 1
            self._faults["429"] += 1
            return 1.0, 0.0, None
        fault: int | str | None = None
        if settings.fault_rate > 0 and self._random.random() < settings.fault_rate:
            fault = self._random.choice((502, 503, 504))
        elif settings.reset_rate > 0 and self._random.random() < settings.reset_rate:
            fault = self._random.choice(("reset_before", "reset_after"))
        if fault is not None:
            self._faults[str(fault)] += 1
        return None, settings.latency_ms / 1000.0, fault
