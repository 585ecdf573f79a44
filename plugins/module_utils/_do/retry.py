# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""When to retry a DigitalOcean API request and how long to wait first (the client and the proxy share it).

- HTTP 429 (rate limited) is retried for every method: DigitalOcean refused the request before acting on it.
- HTTP 5xx (but 501 and 505, which no retry changes) is retried for GET, HEAD, PUT and DELETE only. A POST
  answered 5xx may have been applied (a droplet may exist), so it is handed back to the caller, which looks
  by name before creating again.
- The wait honours what the API asks: ``Retry-After`` (seconds or an HTTP date), else, on a 429,
  ``ratelimit-reset`` (the epoch second at which a request slot frees up); without either, exponential
  backoff (1, 2, 4, 8, 16 s, +-20 % jitter). A wait that would end after the deadline is not started: the
  caller gets the answer at once, with what the API asked for.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
NOT_TRANSIENT = frozenset({501, 505})
MAX_BACKOFF = 16.0


def retryable(method: str, status: int) -> bool:
    if status == 429:
        return True
    return 500 <= status <= 599 and status not in NOT_TRANSIENT and method.upper() in IDEMPOTENT


def header(headers: Any, name: str) -> str | None:
    """A header's value from an HTTPMessage, a dict or a list of pairs, by case-insensitive name."""
    if headers is None:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if str(key).lower() == name.lower():
            return str(value)
    return None


def advised_wait(status: int, headers: Any, now: float) -> float | None:
    """Seconds the API asks to wait (Retry-After; on a 429 also ratelimit-reset), None when it asks nothing."""
    value = header(headers, "Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
    reset = header(headers, "ratelimit-reset") if status == 429 else None
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return None


def backoff(attempt: int, jitter: Callable[[], float] = random.random) -> float:
    """1, 2, 4, 8, 16, 16, ... seconds for attempt 1, 2, 3, ..., each +-20 %."""
    base = min(2.0 ** max(attempt - 1, 0), MAX_BACKOFF)
    return base * (0.8 + 0.4 * jitter())


def next_wait(status: int, headers: Any, attempt: int, now: float | None = None) -> tuple[float, bool]:
    """(seconds to wait before the next attempt, whether the API asked for that wait)."""
    advised = advised_wait(status, headers, time.time() if now is None else now)
    return (advised, True) if advised is not None else (backoff(attempt), False)


class Deadline:
    """A point on the monotonic clock; ``remaining()`` never goes below zero."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def allows(self, wait: float) -> bool:
        return self._clock() + wait <= self.at
