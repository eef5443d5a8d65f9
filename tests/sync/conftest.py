"""Fixtures of the sync-engine tests: the hook on the emulator, its store, record factories."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook


def customer(i: int, **extra: Any) -> dict[str, Any]:
    """A valid customer record (snake_case, as a DAG author writes it)."""
    return {"email": f"user{i}@example.com", "first_name": f"User{i}", **extra}


def order(i: int | str, **extra: Any) -> dict[str, Any]:
    """A valid order record."""
    return {
        "id": f"ORD-{i}",
        "date": "2025-11-03T14:05:00Z",
        "currency": "PLN",
        "total_value": 10.5,
        "customer": {"email": "jane@example.com"},
        "products": [{"id": "SKU-1", "name": "Shoe", "price": 10.5, "quantity": 1}],
        **extra,
    }


@pytest.fixture
def hook(expertsender_conn: str) -> ExpertSenderHook:
    return ExpertSenderHook(expertsender_conn_id=expertsender_conn)


@pytest.fixture
def store(emulator: Any) -> Any:
    return emulator.store(emulator.api_key)
