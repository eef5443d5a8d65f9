"""When to repeat a request and how long to wait: one policy shared by the sync and async hooks.

The policy never sends anything itself. The hooks turn every failure into a typed exception (see
``hooks/_responses.py``) and ask :meth:`RetryPolicy.next_wait` whether, and after how long, to try again;
:func:`call_with_retries` and :func:`acall_with_retries` are the two small loops around that question.

What is retried:

* a connection that failed before anything was sent (refused, DNS failure, connect timeout): always;
* a 429: always (the server did not process the request), after ``Retry-After`` when given, capped;
* a 5xx, a read timeout or a connection dropped after the request was sent: only when the call is idempotent
  (or the caller passed ``retry_unsafe=True``), because the server may already have applied it;
* anything else (4xx, configuration errors, unreadable 2xx): never.

Waits grow exponentially (``backoff_base * 2 ** (retry - 1)``, capped at ``backoff_max``) with "equal jitter"
(a random factor in [0.5, 1]), and the whole call is bounded by ``max_elapsed`` seconds.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_expertsender.exceptions import (
    ExpertSenderError,
    ExpertSenderRateLimitError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow_provider_expertsender.connection import ExpertSenderConnectionConfig

T = TypeVar("T")

log = logging.getLogger(__name__)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header (delay in seconds, or an HTTP date) into seconds from now.

    :param value: the header value, or None.
    :param now: the current time (for tests); defaults to the system clock.
    :return: seconds to wait (never negative), or None when the header is absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may parse without a zone.
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are repeated and how long to wait before each repetition.

    :param max_retries: repetitions after the first attempt (0 disables retries).
    :param backoff_base: wait before the first retry, in seconds (before jitter).
    :param backoff_max: cap of one exponential-backoff wait.
    :param retry_after_max: cap of one wait asked for by a ``Retry-After`` header.
    :param max_elapsed: total time budget of one call, attempts and waits included; a retry whose wait would
        end after it is not made.
    :param rng: source of jitter (inject a seeded ``random.Random`` for reproducible tests).
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    max_elapsed: float = 900.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    @classmethod
    def from_config(cls, config: ExpertSenderConnectionConfig) -> RetryPolicy:
        """Build the policy a connection's extras describe."""
        return cls(
            max_retries=config.max_retries,
            backoff_base=config.backoff_base,
            backoff_max=config.backoff_max,
            retry_after_max=config.retry_after_max,
            max_elapsed=config.max_retry_time,
        )

    def without_retries(self) -> RetryPolicy:
        """The same policy with retries disabled (one attempt), e.g. for ``test_connection()``."""
        return RetryPolicy(0, self.backoff_base, self.backoff_max, self.retry_after_max, self.max_elapsed)

    def is_retryable(self, error: ExpertSenderError, *, idempotent: bool) -> bool:
        """Whether this failure may be repeated at all (ignoring the budget).

        :param error: the typed failure of the last attempt.
        :param idempotent: True when repeating the call cannot apply it twice (or the caller accepted that
            risk with ``retry_unsafe=True``).
        """
        if isinstance(error, ExpertSenderRateLimitError):
            return True
        if isinstance(error, ExpertSenderTransportError):
            return idempotent or not error.maybe_applied
        if isinstance(error, ExpertSenderServerError):
            return idempotent or not error.maybe_applied
        return False

    def backoff(self, retry: int) -> float:
        """Exponential wait before retry number ``retry`` (1-based), with equal jitter."""
        exponent = min(retry - 1, 1000)  # 2.0 ** 1024 overflows; backoff_max applies long before
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**exponent)
        return ceiling * (0.5 + 0.5 * self.rng.random())

    def next_wait(
        self, error: ExpertSenderError, *, retry: int, elapsed: float, idempotent: bool
    ) -> float | None:
        """Seconds to wait before retry number ``retry``, or None to give up and raise ``error``.

        :param error: the typed failure of the last attempt.
        :param retry: the number of the retry being considered (1 for the first repetition).
        :param elapsed: seconds spent on this call so far.
        :param idempotent: see :meth:`is_retryable`.
        """
        if retry > self.max_retries or not self.is_retryable(error, idempotent=idempotent):
            return None
        # A 429's Retry-After, or a 5xx's (a 503 may say when to come back); else exponential backoff.
        hint = getattr(error, "retry_after", None)
        wait = min(hint, self.retry_after_max) if hint is not None else self.backoff(retry)
        if elapsed + wait > self.max_elapsed:
            return None
        return wait


def describe_failure(error: ExpertSenderError) -> str:
    """A few words for a retry log line: the status, or the kind of transport failure."""
    if error.status is not None:
        return str(error.status)
    if isinstance(error, ExpertSenderTransportError):
        return "no response (maybe applied)" if error.maybe_applied else "no connection"
    return type(error).__name__


class _Attempts:
    """One call's bookkeeping, shared by the sync and async loops: count, budget, log line, last words."""

    def __init__(
        self, policy: RetryPolicy, *, idempotent: bool, label: str, clock: Callable[[], float], logger: Any
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.label = label
        self.clock = clock
        self.logger = logger
        self.started = clock()
        self.retry = 0

    def wait_after(self, error: ExpertSenderError) -> float | None:
        """Seconds to wait before repeating the failed attempt (logged), or None when ``error`` is final.

        A final error gets a note in its message saying why a retryable-looking failure was not repeated.
        """
        self.retry += 1
        elapsed = self.clock() - self.started
        wait = self.policy.next_wait(error, retry=self.retry, elapsed=elapsed, idempotent=self.idempotent)
        if wait is None:
            self._explain_giving_up(error, elapsed)
        else:
            self.logger.info(
                "ExpertSender %s -> %s; retry %s/%s in %.2f s",
                self.label,
                describe_failure(error),
                self.retry,
                self.policy.max_retries,
                wait,
            )
        return wait

    def _explain_giving_up(self, error: ExpertSenderError, elapsed: float) -> None:
        if self.retry > 1:
            note = f"Gave up after {self.retry} attempts in {elapsed:.1f} s."
        elif self.policy.is_retryable(error, idempotent=True) and not self.policy.is_retryable(
            error, idempotent=self.idempotent
        ):
            note = (
                "Not repeated: the request may already have been applied and repeating it could apply it "
                "twice (pass retry_unsafe=True to accept that)."
            )
        else:
            return
        error.message = f"{error.message} {note}"
        error.args = (error.message, *error.args[1:])


def call_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    logger: Any = log,
) -> T:
    """Call ``attempt()`` until it returns, repeating the failures ``policy`` allows.

    :param attempt: one request; raises an :class:`ExpertSenderError` on failure.
    :param policy: the retry policy.
    :param idempotent: whether a possibly-applied request may be repeated.
    :param label: ``METHOD /path-template`` for the log line of each retry (no identifiers, no body).
    :param sleep: how to wait (tests inject a recorder).
    :param clock: monotonic clock measuring the elapsed-time budget.
    :param logger: where the one INFO line per retry goes.
    """
    attempts = _Attempts(policy, idempotent=idempotent, label=label, clock=clock, logger=logger)
    while True:
        try:
            return attempt()
        except ExpertSenderError as error:
            wait = attempts.wait_after(error)
            if wait is None:
                raise
        sleep(wait)


async def acall_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    label: str,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    logger: Any = log,
) -> T:
    """The asynchronous twin of :func:`call_with_retries` (same policy, same log line)."""
    attempts = _Attempts(policy, idempotent=idempotent, label=label, clock=clock, logger=logger)
    while True:
        try:
            return await attempt()
        except ExpertSenderError as error:
            wait = attempts.wait_after(error)
            if wait is None:
                raise
        await sleep(wait)
