"""Fixtures of the operator tests: a seeded business unit in the emulator and a way to run one operator.

Data is seeded over real HTTP with the hook, exactly as a DAG would write it; assertions read the emulator's
store. ``run_op`` renders an operator's templates with a given context, then runs ``execute()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

JANE = {"email": "jane.doe@example.com", "phone": "+48500100200", "crmId": "CRM-42", "firstName": "Jane"}
JOHN = {"email": "john.roe@example.com", "phone": "+48500100300", "crmId": "CRM-43", "firstName": "John"}


def order_record(order_id: str, *, email: str = JANE["email"], status: str = "placed", **extra: Any) -> dict:
    """An API-shaped order (as ``models.order_payload`` produces it)."""
    return {
        "id": order_id,
        "date": "2025-11-03T14:05:00Z",
        "status": status,
        "currency": "PLN",
        "totalValue": 259.98,
        "customer": {"email": email},
        "products": [{"id": "SKU-77", "name": "Trail shoe", "price": 129.99, "quantity": 2}],
        **extra,
    }


@pytest.fixture
def store(emulator: Any) -> Any:
    """The business unit behind the test connection's API key."""
    return emulator.store(emulator.api_key)


@pytest.fixture
def hook(expertsender_conn: str) -> ExpertSenderHook:
    return ExpertSenderHook(expertsender_conn_id=expertsender_conn)


@pytest.fixture
def customers(hook: ExpertSenderHook, store: Any) -> dict[str, dict[str, Any]]:
    """Jane and John, as stored (with their ExpertSender ``id``)."""
    hook.upsert_customers([JANE, JOHN], mode="AddOrUpdate", match_by="Email")
    return {
        "jane": store.customer(email=JANE["email"]),
        "john": store.customer(email=JOHN["email"]),
    }


@pytest.fixture
def orders(hook: ExpertSenderHook, customers: dict[str, Any]) -> list[str]:
    """Three orders of Jane's, status ``placed``; returns their ids."""
    ids = ["ORD-1", "ORD-2", "ORD-3"]
    hook.register_orders([order_record(order_id) for order_id in ids], mode="AddOrReplace")
    return ids


@pytest.fixture(params=["404", "200_null"])
def not_found_style(request: pytest.FixtureRequest, emulator: Any) -> str:
    """Run the test with both answers the real API may give for a missing record ([UNK])."""
    emulator.switches.not_found_style = request.param
    return request.param


@pytest.fixture
def run_op(expertsender_conn: str) -> Callable[..., Any]:
    """``run_op(operator, **context)``: render the templates with ``context``, then run ``execute()``.

    The operators use the default connection, which points at the emulator.
    """

    def _run(operator: Any, **context: Any) -> Any:
        context.setdefault("params", {})
        operator.render_template_fields(context)
        return operator.execute(context)

    return _run
