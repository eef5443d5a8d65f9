"""Helpers of the reliability and security tests: hooks with chosen retry settings, record factories, ledgers.

Every test here talks real HTTP to the emulator (``emulator`` fixture) and checks outcomes in its store, so a
number in ``docs/reliability.md`` is something a test asserted, not something a log line claimed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from tests.plugins.emulator import connection_json
from tests.plugins.waits import Waits


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` here (the 1,000,000-row soak) run only when asked for: ``-m slow``."""
    if "slow" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (see docs/reliability.md)")
    for item in items:
        if "slow" in item.keywords and "tests/reliability/" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)


#: Logger the hooks of these tests log to: stdlib on both Airflow lines, so caplog sees every line.
HOOK_LOGGER = "tests.reliability.expertsender"


@pytest.fixture
def make_hook(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``make_hook(conn_id="es_rel", api_key=None, **extras)``: a hook on the emulator (fast retries unless
    the extras say otherwise) whose retry waits are recorded in ``hook.waits``."""
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

    hooks: list[Any] = []

    def make(conn_id: str = "es_rel", api_key: str | None = None, **extra: object) -> Any:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(emulator, api_key, **extra))
        hook: Any = ExpertSenderHook(expertsender_conn_id=conn_id)
        hook.waits = Waits()
        hook._sleep = hook.waits
        hook._log = logging.getLogger(HOOK_LOGGER)
        # Read the connection now, so that tests timing a call time the call: the first read costs seconds
        # on Airflow 2.10 when four test lines share two cores. A connection the hook refuses still raises
        # on first use, where the tests that expect it look for it.
        with contextlib.suppress(ExpertSenderConfigError):
            _ = hook.config
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


def customer(i: int) -> dict[str, Any]:
    """A valid customer record, unique by ``i``."""
    return {"email": f"c{i}@example.com", "first_name": f"F{i}", "crm_id": str(i)}


def api_customer(i: int) -> dict[str, Any]:
    """The same customer as the API spells it (what the hook takes: it does not validate or rename)."""
    return {"email": f"c{i}@example.com", "firstName": f"F{i}", "crmId": str(i)}


def customers(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    return (customer(i) for i in range(start, start + n))


def order(i: int) -> dict[str, Any]:
    """A valid order record, unique by ``i``."""
    return {
        "id": f"O-{i}",
        "date": "2025-01-02T03:04:05Z",
        "customer": {"email": f"c{i}@example.com"},
        "products": [{"id": f"P-{i % 7}", "price": 9.5, "quantity": 1}],
    }


@dataclass
class Ledger:
    """What one write did to the emulator, in the counts of ``docs/reliability.md``.

    :param expected: identifiers that must be stored.
    :param stored: identifiers found in the store.
    """

    expected: list[str]
    stored: list[str]

    @property
    def lost(self) -> int:
        return len(set(self.expected) - set(self.stored))

    @property
    def duplicated(self) -> int:
        return len(self.stored) - len(set(self.stored))

    @property
    def unexpected(self) -> int:
        return len(set(self.stored) - set(self.expected))


def customer_ledger(store: Any, expected: list[str]) -> Ledger:
    return Ledger(expected, [c["email"] for c in store.customers])


def order_ledger(store: Any, expected: list[str]) -> Ledger:
    return Ledger(expected, [o["id"] for o in store.orders])


def posts(emulator: Any, route: str) -> list[Any]:
    """The POST requests the emulator served (or dropped) on ``route``."""
    return [r for r in emulator.requests if r.method == "POST" and r.route == route]
