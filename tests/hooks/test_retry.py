"""RetryPolicy and the retry loops: what is repeated, how long it waits, that it stops."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderNotFoundError,
    ExpertSenderRateLimitError,
    ExpertSenderResponseError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.retry import (
    RetryPolicy,
    acall_with_retries,
    call_with_retries,
    parse_retry_after,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 0.5 ", 0.5),
        ("0", 0.0),
        ("-4", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Fri, 02 Jan 2026 03:04:15 GMT", 10.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


def transport(maybe_applied: bool) -> ExpertSenderTransportError:
    return ExpertSenderTransportError("x", maybe_applied=maybe_applied)


@pytest.mark.parametrize(
    ("error", "safe_call", "unsafe_call"),
    [
        (ExpertSenderRateLimitError("x", status=429, retry_after=1), True, True),
        (transport(maybe_applied=False), True, True),
        (transport(maybe_applied=True), True, False),
        (ExpertSenderServerError("x", status=503), True, False),
        (ExpertSenderValidationError("x"), False, False),
        (ExpertSenderAuthError("x", status=401), False, False),
        (ExpertSenderNotFoundError("x", status=404), False, False),
        (ExpertSenderConfigError("x"), False, False),
        (ExpertSenderResponseError("x", status=302), False, False),
        (ExpertSenderError("x", status=405), False, False),
    ],
)
def test_what_is_retried(error, safe_call, unsafe_call):
    policy = RetryPolicy()
    assert policy.is_retryable(error, idempotent=True) is safe_call
    assert policy.is_retryable(error, idempotent=False) is unsafe_call


@given(
    retry=st.integers(min_value=1, max_value=5000),
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=1000),
    seed=st.integers(),
)
def test_backoff_is_exponential_jittered_and_capped(retry, base, cap, seed):
    policy = RetryPolicy(backoff_base=base, backoff_max=cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2.0 ** min(retry - 1, 1000))
    assert 0.5 * ceiling <= policy.backoff(retry) <= ceiling


def test_retry_after_is_honoured_and_capped():
    policy = RetryPolicy(retry_after_max=10)
    hinted = ExpertSenderRateLimitError("x", retry_after=4)
    assert policy.next_wait(hinted, retry=1, elapsed=0, idempotent=False) == 4
    huge = ExpertSenderRateLimitError("x", retry_after=3600)
    assert policy.next_wait(huge, retry=1, elapsed=0, idempotent=False) == 10
    no_hint = ExpertSenderRateLimitError("x", retry_after=None)
    assert 0.5 <= policy.next_wait(no_hint, retry=1, elapsed=0, idempotent=False) <= 1.0


def test_budget_in_retries_and_in_time():
    policy = RetryPolicy(max_retries=2, backoff_base=1, max_elapsed=10)
    error = ExpertSenderServerError("x", status=500)
    assert policy.next_wait(error, retry=2, elapsed=0, idempotent=True) is not None
    assert policy.next_wait(error, retry=3, elapsed=0, idempotent=True) is None
    assert policy.next_wait(error, retry=1, elapsed=9.9, idempotent=True) is None
    assert policy.without_retries().next_wait(error, retry=1, elapsed=0, idempotent=True) is None


class Script:
    """An attempt function failing with the given errors, then returning "done"."""

    def __init__(self, *errors: ExpertSenderError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_loop_retries_then_succeeds_and_logs_one_line_per_retry(caplog):
    waits: list[float] = []
    attempt = Script(ExpertSenderServerError("x", status=503), transport(maybe_applied=False))
    logger = logging.getLogger("test.retry")
    with caplog.at_level(logging.INFO, logger="test.retry"):
        result = call_with_retries(
            attempt,
            policy=RetryPolicy(backoff_base=0.2, rng=random.Random(1)),
            idempotent=True,
            label="GET /customerattributes",
            sleep=waits.append,
            logger=logger,
        )
    assert result == "done"
    assert attempt.calls == 3
    assert len(waits) == 2
    assert 0.1 <= waits[0] <= 0.2
    assert 0.2 <= waits[1] <= 0.4
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"ExpertSender GET /customerattributes -> 503; retry 1/5 in {waits[0]:.2f} s",
        f"ExpertSender GET /customerattributes -> no connection; retry 2/5 in {waits[1]:.2f} s",
    ]


def test_loop_gives_up_with_the_last_error():
    waits: list[float] = []
    last = ExpertSenderServerError("last", status=502)
    attempt = Script(ExpertSenderServerError("first", status=500), last, ExpertSenderServerError("x"))
    with pytest.raises(ExpertSenderServerError) as info:
        call_with_retries(
            attempt, policy=RetryPolicy(max_retries=1), idempotent=True, label="L", sleep=waits.append
        )
    assert info.value is last
    assert attempt.calls == 2
    assert len(waits) == 1
    assert str(last).startswith("last Gave up after 2 attempts in ")


def test_loop_does_not_repeat_a_possibly_applied_unsafe_call():
    waits: list[float] = []
    attempt = Script(transport(maybe_applied=True))
    with pytest.raises(ExpertSenderTransportError) as info:
        call_with_retries(attempt, policy=RetryPolicy(), idempotent=False, label="L", sleep=waits.append)
    assert (attempt.calls, waits) == (1, [])
    assert "Not repeated" in str(info.value)
    assert "retry_unsafe=True" in info.value.message


def test_a_final_first_failure_keeps_its_message():
    error = ExpertSenderValidationError("rejected")
    with pytest.raises(ExpertSenderValidationError) as info:
        call_with_retries(
            Script(error), policy=RetryPolicy(), idempotent=True, label="L", sleep=lambda _: None
        )
    assert str(info.value) == info.value.message == "rejected"


def test_loop_stops_at_the_time_budget():
    clock = iter([0.0, 0.0, 5.0, 50.0, 200.0])
    attempt = Script(*[ExpertSenderServerError("x", status=500)] * 10)
    with pytest.raises(ExpertSenderServerError):
        call_with_retries(
            attempt,
            policy=RetryPolicy(max_retries=10, backoff_base=1, backoff_max=1, max_elapsed=60),
            idempotent=True,
            label="L",
            sleep=lambda _: None,
            clock=lambda: next(clock),
        )
    # Failures seen at elapsed 0, 5 and 50 s are retried (wait <= 1 s fits in 60 s); at 200 s it gives up.
    assert attempt.calls == 4


def test_async_loop_shares_the_policy():
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    errors = [ExpertSenderRateLimitError("x", status=429, retry_after=0.25)]

    async def attempt() -> str:
        if errors:
            raise errors.pop()
        return "done"

    result = asyncio.run(
        acall_with_retries(attempt, policy=RetryPolicy(), idempotent=False, label="L", sleep=record)
    )
    assert result == "done"
    assert waits == [0.25]
