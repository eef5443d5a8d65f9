"""Fixtures of the sync-engine tests: the hook on the emulator, its store, record factories, a PostgreSQL
table of customers (skipped, saying why, when PostgreSQL is unreachable)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


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


def _postgres_or_skip() -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        return psycopg2.connect(connect_timeout=2, **PG)
    except psycopg2.OperationalError as err:
        pytest.skip(f"PostgreSQL at {PG['host']}:{PG['port']} is unreachable: {err}".strip())


@pytest.fixture
def pg_customers(monkeypatch) -> Any:
    con = _postgres_or_skip()
    con.autocommit = True
    table = f"es_state_{uuid.uuid4().hex[:8]}"
    with con.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} AS SELECT g AS n, 'user' || g || '@example.com' AS email, "
            "'User' || g AS first_name, (g % 7)::numeric / 4 AS attr_lifetime_value, "
            "DATE '2024-01-01' + g AS attr_signup_date "
            "FROM generate_series(1, 3000) g"
        )
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG_STATE",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": PG["host"],
                "port": PG["port"],
                "login": PG["user"],
                "schema": PG["dbname"],
            }
        ),
    )
    yield con, table
    with con.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    con.close()
