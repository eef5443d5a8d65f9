"""The 429 budget the sender threads of one write share (sync/budget.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderRateLimitError
from airflow_provider_expertsender.retry import RetryPolicy
from airflow_provider_expertsender.sync.budget import QUIET_WINDOW, BudgetPolicy, RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_429_pauses_every_thread_for_its_retry_after():
    budget = RequestBudget(4)
    budget.on_rate_limited(0.3)  # one thread got a 429
    started = time.monotonic()
    with budget.slot():  # any other thread's next request waits for the pause
        waited = time.monotonic() - started
    assert waited >= 0.25


def test_concurrency_halves_once_per_pause_and_grows_back_after_quiet_windows():
    clock = Clock()
    budget = RequestBudget(8, clock=clock)
    budget.on_rate_limited(1.0)
    budget.on_rate_limited(1.0)  # a second thread's 429 within the same pause
    assert budget.concurrency == 4
    assert budget.rate_limited == 2
    clock.now += 1.0 + QUIET_WINDOW
    with budget.slot():
        pass
    assert budget.concurrency == 5
    for _ in range(10):
        clock.now += QUIET_WINDOW
        with budget.slot():
            pass
    assert budget.concurrency == 8  # never above max_concurrency


def test_no_more_requests_in_flight_than_the_current_concurrency():
    budget = RequestBudget(4)
    budget.on_rate_limited(0.01)  # concurrency 2 from now on
    time.sleep(0.02)
    in_flight, peak, lock = 0, 0, threading.Lock()

    def request() -> None:
        nonlocal in_flight, peak
        with budget.slot():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.02)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak <= 2


def test_after_a_429_the_pace_follows_what_the_server_accepted():
    clock = Clock()
    budget = RequestBudget(8, clock=clock)
    for _ in range(50):  # 50 requests answered within one second
        clock.now += 0.02
        with budget.slot():
            pass
    budget.on_rate_limited(1.0)
    assert budget.pace is not None
    assert 40 <= budget.pace <= 50  # 90 % of the ~50/s accepted


def test_max_requests_per_second_caps_the_pace():
    budget = RequestBudget(8, 20)
    started = time.monotonic()
    for _ in range(5):
        with budget.slot():
            pass
    assert time.monotonic() - started >= 4 / 20 * 0.9  # 5 starts at 20/s span at least 0.2 s


def test_the_policy_reports_the_429s_it_retries_and_keeps_deciding():
    budget = RequestBudget(8)
    policy = BudgetPolicy.around(RetryPolicy(max_retries=2), budget)
    error = ExpertSenderRateLimitError("429", retry_after=0.5)
    assert policy.next_wait(error, retry=1, elapsed=0.0, idempotent=False) == 0.5
    assert budget.rate_limited == 1
    assert budget.concurrency == 4


def test_a_rate_limited_emulator_gets_every_event_once(emulator: Any, expertsender_conn: str) -> None:
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook
    from airflow_provider_expertsender.sync import run_write

    emulator.switches.rate_limit_per_second = 20
    emulator.switches.latency_ms = 10
    hook = ExpertSenderHook()
    events = [{"email": f"rl{i}@example.com"} for i in range(60)]
    summary = run_write(hook, resource="custom_events", records=events, custom_event_id=7, max_concurrency=8)
    fired = Counter(e["customerEmail"] for e in emulator.store(emulator.api_key).events)
    assert len(fired) == 60
    assert set(fired.values()) == {1}
    assert summary["accepted"] == 60
    assert summary["rate_limited"] >= 1
    limited = sum(1 for r in emulator.requests if r.status == 429)
    assert limited == summary["rate_limited"]
    assert limited < 30  # threads stop together: not one 429 per thread per second of the run
    assert type(hook.retry_policy) is RetryPolicy  # the hook's own policy is given back
