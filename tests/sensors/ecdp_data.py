"""Test data for the sensor and trigger tests, written into the emulator over real HTTP with the sync hook.

``after_gets(n, fn, *args)`` runs a write from a background thread once the sensor or trigger has looked
``n`` times, as another system writing to ExpertSender would; the fixture joins the threads and re-raises
their errors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

EMAIL = "jane.doe@example.com"
API_KEY_MARKER = "never-in-a-trigger"


def order_record(order_id: str, *, status: str | None = "placed", email: str = EMAIL) -> dict[str, Any]:
    """An API-shaped order with the fields the emulator requires."""
    record: dict[str, Any] = {
        "id": order_id,
        "date": "2025-11-03T14:05:00Z",
        "currency": "PLN",
        "totalValue": 129.99,
        "customer": {"email": email},
        "products": [{"id": "SKU-77", "name": "Trail shoe", "price": 129.99, "quantity": 1}],
    }
    if status is not None:
        record["status"] = status
    return record


class Ecdp:
    """Writes into the emulator's business unit, as other systems do while a sensor waits."""

    def __init__(self, hook: ExpertSenderHook, emulator: Any) -> None:
        self.hook = hook
        self.emulator = emulator
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

    def customer(self, email: str = EMAIL, **fields: Any) -> None:
        self.hook.upsert_customers([{"email": email, **fields}], mode="AddOrUpdate", match_by="Email")

    def order(self, order_id: str, status: str | None = "placed") -> None:
        self.hook.register_orders([order_record(order_id, status=status)], mode="AddOrReplace")

    def status(self, order_id: str, status: str) -> None:
        self.hook.update_order_status(order_id, status)

    def delete(self, order_id: str) -> None:
        self.hook.delete_order(order_id)

    def after_gets(
        self, count: int, fn: Callable[..., Any], *args: Any, route: str | None = None, **kwargs: Any
    ) -> None:
        """Call ``fn(*args, **kwargs)`` from a background thread once the emulator has answered ``count`` more
        GET requests (on ``route``, a template such as ``/orders/id/{order_id}``, if given).

        The write thus happens *after* the sensor or trigger has looked and found nothing, whatever the
        machine's speed: the test proves the waiting, not a timing.
        """
        emulator = self.emulator
        baseline = len(emulator.requests)

        def seen() -> int:
            return sum(
                1
                for r in emulator.requests[baseline:]
                if r.method == "GET" and (route is None or r.route == route)
            )

        def _run() -> None:
            while seen() < count:
                if self._stop.wait(0.01):  # the test is over: its assertions tell what went wrong
                    return
            try:
                fn(*args, **kwargs)
            except BaseException as err:  # surfaced by the fixture's teardown
                self._errors.append(err)

        thread = threading.Thread(target=_run, daemon=True, name="ecdp-after-gets")
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        """Stop the writes still waiting for their GETs, wait for those in progress, re-raise errors."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self._errors:
            raise self._errors[0]


@pytest.fixture
def ecdp(emulator: Any, expertsender_conn: str) -> Iterator[Ecdp]:
    with ExpertSenderHook(expertsender_conn_id=expertsender_conn) as hook:
        writer = Ecdp(hook, emulator)
        yield writer
        writer.join()


@pytest.fixture
def store(emulator: Any) -> Any:
    """The business unit behind the test connection's API key."""
    return emulator.store(emulator.api_key)


@pytest.fixture
def bad_key_conn(emulator: Any, expertsender_conn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection to the same emulator with an API key it does not know (answers 401)."""
    import os

    conn = json.loads(os.environ[f"AIRFLOW_CONN_{expertsender_conn.upper()}"])
    conn["password"] = API_KEY_MARKER
    monkeypatch.setenv("AIRFLOW_CONN_EXPERTSENDER_BAD_KEY", json.dumps(conn))
    return "expertsender_bad_key"


def request_counter(store: Any) -> Callable[[], int]:
    """A function returning how many requests the business unit received since this call.

    The emulator counts a request before answering it, so the count is exact once the client has its answer.
    """
    start = store.request_count
    return lambda: store.request_count - start
