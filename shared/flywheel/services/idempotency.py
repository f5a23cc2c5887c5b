"""Exactly once under at-least-once triggers: reserve -> act -> complete, or release, in one place.

The model is powertools' idempotency utility: the logic lives here once, over the few methods of a store
(`reserve`, `complete`, `release`, `lookup`). Effects, webhook deliveries and Scheduler redeliveries all go
through it. A claim carries the holder's fencing token, so completing or releasing a key that another worker has
taken over since (our lease ran out) changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flywheel.ports import Clock, Reservation, StateStore


@dataclass(frozen=True)
class Idempotency:
    state: StateStore
    clock: Clock
    lease: timedelta

    def claim(self, key: str) -> Reservation:
        """Reserve `key`: acquired or reclaimed (ours: act, then complete or release), held or done (not ours)."""
        return self.state.reserve(key, now=self.clock.now(), lease=self.lease)

    def complete(self, claim: Reservation, result: Mapping[str, Any]) -> bool:
        """Record the effect as done; False when the claim was lost (taken over) and nothing was recorded."""
        if claim.token is None:
            raise ValueError(f"{claim.key} is {claim.status}, not ours to complete")
        return self.state.complete(claim.key, result, now=self.clock.now(), token=claim.token)

    def release(self, claim: Reservation) -> bool:
        """Free the key when nothing was done, so the next attempt acts; False when it was no longer ours."""
        if claim.token is None:
            return False
        return self.state.release(claim.key, claim.token)
