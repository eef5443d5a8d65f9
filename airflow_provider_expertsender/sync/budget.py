"""Rate limits as a budget shared by every sender thread of one write.

Without it each thread meets a 429 on its own: it waits its ``Retry-After`` while the others keep sending
into the limit. A :class:`RequestBudget` makes a 429 everybody's business:

* every thread waits until the server's ``Retry-After`` has passed before its next request;
* the number of requests in flight halves (down to 1) and grows back by one after each quiet window
  (no 429 for :data:`QUIET_WINDOW` seconds), up to ``max_concurrency``;
* the pace (requests per second) drops to 90 % of what the server accepted over the last few seconds (or to
  90 % of the previous pace, if lower) and then rises by 1 % per quiet second, so a server's rate limit is
  followed from just below instead of being hit again at once; ``max_requests_per_second`` caps the pace
  from the start.

The hook still owns retrying: :class:`BudgetPolicy` wraps its
:class:`~airflow_provider_expertsender.retry.RetryPolicy` and reports every 429 it retries to the budget.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.exceptions import ExpertSenderError, ExpertSenderRateLimitError
from airflow_provider_expertsender.retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Seconds without a 429 after which concurrency grows by one (and the pace may grow).
QUIET_WINDOW = 2.0
#: Share of the recently accepted rate the pace drops to after a 429 ...
ACCEPTED_SHARE = 0.9
#: ... or of the previous pace, whichever is lower.
BACKOFF_SHARE = 0.9
#: Seconds of answered requests the accepted rate is measured over.
RATE_WINDOW = 5.0
#: Growth of the pace per quiet second after a 429.
PACE_GROWTH = 0.01
#: A 429 without Retry-After pauses everyone this long.
DEFAULT_PAUSE = 1.0


class RequestBudget:
    """Concurrency, pace and pauses shared by the threads of one write (thread-safe).

    :param max_concurrency: requests in flight at most.
    :param max_requests_per_second: a fixed cap on the pace (None: none until a 429).
    :param clock: monotonic clock (tests inject one).
    :param sleep: how to wait (tests inject one).
    """

    def __init__(
        self,
        max_concurrency: int,
        max_requests_per_second: float | None = None,
        *,
        clock: Any = time.monotonic,
        sleep: Any = time.sleep,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.concurrency = max_concurrency
        self.cap = max_requests_per_second
        self.pace: float | None = max_requests_per_second
        self.rate_limited = 0
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._in_flight = 0
        self._paused_until = 0.0
        self._last_429 = -1e9
        self._last_growth = clock()
        self._next_start = 0.0
        self._started = clock()
        self._answered: deque[float] = deque()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the requests in flight for the duration of the block, once pauses and pace allow."""
        with self._cond:
            while True:
                now = self._clock()
                self._grow(now)
                wait = self._paused_until - now
                if wait <= 0 and self.pace:
                    wait = self._next_start - now
                if wait > 0:
                    self._cond.wait(min(wait, 0.25))
                    continue
                if self._in_flight < self.concurrency:
                    break
                self._cond.wait(0.25)
            self._in_flight += 1
            if self.pace:
                self._next_start = max(now, self._next_start) + 1.0 / self.pace
        answered = False
        try:
            yield
            answered = True
        finally:
            with self._cond:
                self._in_flight -= 1
                if answered:
                    now = self._clock()
                    self._answered.append(now)
                    while self._answered and self._answered[0] < now - RATE_WINDOW:
                        self._answered.popleft()
                self._cond.notify_all()

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A request got a 429: pause everyone, halve concurrency, slow the pace (once per pause)."""
        with self._cond:
            now = self._clock()
            self.rate_limited += 1
            first_of_pause = now >= self._paused_until
            self._paused_until = max(self._paused_until, now + (retry_after or DEFAULT_PAUSE))
            self._last_429 = now
            if first_of_pause:
                self.concurrency = max(1, self.concurrency // 2)
                span = min(RATE_WINDOW, max(now - self._started, 0.25))
                recent = sum(1 for t in self._answered if t >= now - span)
                candidates = [ACCEPTED_SHARE * recent / span] if recent else []
                if self.pace:
                    candidates.append(BACKOFF_SHARE * self.pace)
                pace = max(1.0, min(candidates)) if candidates else 1.0
                self.pace = min(pace, self.cap) if self.cap else pace
            self._cond.notify_all()

    def _grow(self, now: float) -> None:
        """After a quiet window: one more request in flight, and a faster pace (caller holds the lock)."""
        if now - self._last_429 < QUIET_WINDOW or now - self._last_growth < QUIET_WINDOW / 2:
            return
        elapsed = now - self._last_growth
        self._last_growth = now
        if self.concurrency < self.max_concurrency:
            self.concurrency += 1
        if self.pace and self.pace != self.cap:
            grown = self.pace * (1 + PACE_GROWTH) ** elapsed
            self.pace = min(grown, self.cap) if self.cap else grown

    def describe(self) -> str:
        """For progress lines: the current concurrency and pace."""
        pace = f", {self.pace:.0f} req/s" if self.pace else ""
        return f"concurrency {self.concurrency}/{self.max_concurrency}{pace}"


@dataclass(frozen=True)
class BudgetPolicy(RetryPolicy):
    """The hook's retry policy, reporting every 429 it is about to retry to a shared :class:`RequestBudget`.

    Build it with :meth:`around`; the hook keeps deciding what is retried and how long it waits.
    """

    budget: RequestBudget | None = None

    @classmethod
    def around(cls, policy: RetryPolicy, budget: RequestBudget) -> BudgetPolicy:
        return cls(
            max_retries=policy.max_retries,
            backoff_base=policy.backoff_base,
            backoff_max=policy.backoff_max,
            retry_after_max=policy.retry_after_max,
            max_elapsed=policy.max_elapsed,
            rng=policy.rng,
            budget=budget,
        )

    def next_wait(
        self, error: ExpertSenderError, *, retry: int, elapsed: float, idempotent: bool
    ) -> float | None:
        wait = super().next_wait(error, retry=retry, elapsed=elapsed, idempotent=idempotent)
        if isinstance(error, ExpertSenderRateLimitError) and self.budget is not None:
            self.budget.on_rate_limited(error.retry_after)
        return wait
