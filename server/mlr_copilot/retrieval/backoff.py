"""Retrying a call that a service answered with "too many requests" or a server error."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class RetryLater(Exception):
    """Raised inside an attempt: the service asked to come back later (after `retry_after` s)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def with_backoff(
    attempt: Callable[[], T],
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    should_cancel: Callable[[], bool] | None = None,
) -> T:
    """Call `attempt` until it stops raising RetryLater, waiting exponentially longer each time.

    The service's own Retry-After wins over the exponential delay; when it asks for more than
    `max_delay` the RetryLater is raised at once rather than blocking the user for minutes.
    """
    attempts = max(1, attempts)
    for number in range(attempts):
        try:
            return attempt()
        except RetryLater as exc:
            if number == attempts - 1 or (should_cancel is not None and should_cancel()):
                raise
            if exc.retry_after is not None:
                delay = exc.retry_after
            else:
                delay = base_delay * 2**number * (1 + random.random() / 4)
            if delay > max_delay:
                raise
            sleep(delay)
    raise AssertionError("unreachable")
