"""Identifiers that look like paths (``../``, ``%2F``, ``?``, ``#``, ``.``) never make a request reach another
path.

Each identifier is a single path segment of ``GET /customers/crmId/{value}``, ``GET /orders/id/{order_id}``
and ``DELETE /orders/{order_id}``. For every one, on both hooks, either the request arrives at that route
with the identifier intact (the round trip finds the record stored under it), or nothing is sent and a typed
error says why. The emulator's request log shows where each request really went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderError

PATH_LIKE = [
    "../orders/id/O-decoy",
    "../../customerattributes",
    "..%2F..%2Fcustomerattributes",
    "a/b",
    "a%2Fb",
    "%2e%2e",
    "?mode=Add",
    "x?y=1#z",
    "#fragment",
    "a;b=c",
    "\\..\\x",
    "a b+c",
    "ü/ß",
    "%00",
    "a\r\nX-Injected: 1",
    "..",
    ".",
]
IDS = [repr(v) for v in PATH_LIKE]

#: The only routes a lookup may reach.
CUSTOMER_ROUTE = "/customers/crmId/{value}"
ORDER_ROUTE = "/orders/id/{order_id}"
DELETE_ROUTE = "/orders/{order_id}"


def _routes_since(emulator: Any, start: int) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in emulator.requests[start:]]


def _seed(make_hook: Callable[..., Any], value: str) -> Any:
    hook = make_hook()
    # validate=False: the models refuse "." and ".." (a record that could never be read back); the server may
    # still hold one, stored by another client.
    hook.upsert_customers(
        [{"crmId": value, "email": "path@example.com", "firstName": "Path"}], match_by="CrmId", validate=False
    )
    hook.register_orders(
        [
            {
                "id": value,
                "date": "2025-01-01T00:00:00Z",
                "customer": {"email": "path@example.com"},
                "products": [],
            },
            {
                "id": "O-decoy",
                "date": "2025-01-01T00:00:00Z",
                "customer": {"email": "d@example.com"},
                "products": [],
            },
        ],
        validate=False,
    )
    return hook


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_never_reach_another_path(
    value: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    _check_lookups(value, emulator, make_hook)


@pytest.mark.parametrize("value", [v for v in PATH_LIKE if v not in (".", "..")], ids=IDS[:-2])
def test_path_like_identifiers_stay_one_segment(
    value: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    _check_lookups(value, emulator, make_hook)


def _check_lookups(value: str, emulator: Any, make_hook: Callable[..., Any]) -> None:
    hook = _seed(make_hook, value)
    start = len(emulator.requests)
    found_customer = _sync_or_refused(lambda: hook.get_customer(crm_id=value))
    found_order = _sync_or_refused(lambda: hook.get_order(value))
    found_async = _sync_or_refused(lambda: asyncio.run(_async_lookups(value)))
    deleted = _sync_or_refused(lambda: hook.delete_order(value) or True)
    routes = _routes_since(emulator, start)
    allowed = {("GET", CUSTOMER_ROUTE), ("GET", ORDER_ROUTE), ("DELETE", DELETE_ROUTE)}
    assert set(routes) <= allowed, f"a request reached another path: {routes}"
    # Whatever was sent found exactly the record stored under that identifier.
    if found_customer is not None:
        assert found_customer["crmId"] == value
    if found_order is not None:
        assert found_order["id"] == value
    if found_async is not None:
        assert found_async == (value, value)
    store = emulator.store(emulator.api_key)
    decoy = store.order("O-decoy")
    assert decoy is not None
    assert decoy["isDeleted"] is False, "DELETE reached the decoy order"
    if deleted:
        assert store.order(value)["isDeleted"] is True


async def _async_lookups(value: str) -> tuple[str, str]:
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook

    async with ExpertSenderAsyncHook(expertsender_conn_id="es_rel") as hook:
        customer = await hook.get_customer(crm_id=value)
        order = await hook.get_order(value)
    return customer["crmId"], order["id"]


def _sync_or_refused(call: Callable[[], Any]) -> Any:
    """The result, or None when the provider refused with one of its typed errors."""
    try:
        return call()
    except ExpertSenderError:
        return None


def test_encoded_paths_on_the_wire(emulator: Any, make_hook: Callable[..., Any]) -> None:
    """The raw request paths: every reserved character of an identifier is percent-encoded."""
    hook = _seed(make_hook, "a/b?c#d")
    start = len(emulator.requests)
    assert hook.get_customer(crm_id="a/b?c#d")["crmId"] == "a/b?c#d"
    assert [r.path for r in emulator.requests[start:]] == ["/customers/crmId/a%2Fb%3Fc%23d"]
