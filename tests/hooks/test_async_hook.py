"""ExpertSenderAsyncHook over real HTTP against the emulator: reads, errors, retries, session lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderNotFoundError,
    ExpertSenderRateLimitError,
    ExpertSenderResponseError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
)
from airflow_provider_expertsender.hooks import expertsender as hook_module
from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook, ExpertSenderHook
from tests.hooks.conftest import HOOK_LOGGER
from tests.plugins.waits import AsyncWaits

JANE = {"email": "jane@example.com", "phone": "+48600100200", "crmId": "crm-42"}
ORDER = {
    "id": "ORD/1",
    "date": "2026-01-02T03:04:05Z",
    "status": "paid",
    "customer": {"email": "jane@example.com"},
    "products": [{"id": "SKU-1", "name": "Mug", "price": 3, "quantity": 1}],
}


def async_hook(conn_id: str = "expertsender_default") -> tuple[ExpertSenderAsyncHook, AsyncWaits]:
    hook = ExpertSenderAsyncHook(expertsender_conn_id=conn_id)
    waits = AsyncWaits()
    hook._sleep = waits
    hook._log = logging.getLogger(HOOK_LOGGER)
    return hook, waits


@pytest.fixture
def seeded(expertsender_conn):
    sync = ExpertSenderHook(expertsender_conn_id=expertsender_conn)
    sync.upsert_customers([JANE])
    sync.register_orders([ORDER])
    sync.close()
    return expertsender_conn


@pytest.fixture
def sessions(monkeypatch):
    """Every aiohttp session the hook opens (to check each is closed)."""
    opened = []
    original = hook_module.new_async_session

    def record(config):
        session = original(config)
        opened.append(session)
        return session

    monkeypatch.setattr(hook_module, "new_async_session", record)
    return opened


def test_get_customer_by_every_identifier_and_get_order(seeded, sessions):
    hook, _ = async_hook()

    async def main():
        by_email = await hook.get_customer(email=JANE["email"])
        by_id = await hook.get_customer(customer_id=by_email["id"])
        by_phone = await hook.get_customer(phone=JANE["phone"])
        by_crm = await hook.get_customer(crm_id=JANE["crmId"])
        order = await hook.get_order("ORD/1")
        return by_email, by_id, by_phone, by_crm, order

    by_email, by_id, by_phone, by_crm, order = asyncio.run(main())
    assert by_email == by_id == by_phone == by_crm
    assert by_email["crmId"] == "crm-42"
    assert order["id"] == "ORD/1"
    assert len(sessions) == 5
    assert all(s.closed for s in sessions)


def test_async_with_shares_one_session_and_closes_it(seeded, sessions):
    async def main():
        async with ExpertSenderAsyncHook(expertsender_conn_id=seeded) as hook:
            await hook.get_customer(email=JANE["email"])
            await hook.get_order("ORD/1")
            return hook

    hook = asyncio.run(main())
    assert len(sessions) == 1
    assert sessions[0].closed
    assert hook._session is None


@pytest.mark.parametrize("style", ["404", "200_null"])
def test_not_found_in_both_styles(expertsender_conn, emulator, style, sessions):
    emulator.switches.not_found_style = style
    hook, waits = async_hook()
    with pytest.raises(ExpertSenderNotFoundError):
        asyncio.run(hook.get_customer(email="nobody@example.com"))
    with pytest.raises(ExpertSenderNotFoundError):
        asyncio.run(hook.get_order("missing"))
    assert waits == []
    assert all(s.closed for s in sessions)


def test_503_is_retried_then_succeeds(seeded, emulator, caplog):
    emulator.switches.fail_next(2, status=503, html=True)
    hook, waits = async_hook()
    with caplog.at_level(logging.INFO, logger=HOOK_LOGGER):
        assert asyncio.run(hook.get_order("ORD/1"))["id"] == "ORD/1"
    assert len(waits) == 2
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert retries[0].startswith("ExpertSender GET /orders/id/{order_id} -> 503; retry 1/3 in")


def test_5xx_budget_spent(expertsender_conn, emulator):
    emulator.switches.fail_next(10, status=500)
    hook, waits = async_hook()
    with pytest.raises(ExpertSenderServerError) as info:
        asyncio.run(hook.get_order("ORD/1"))
    assert info.value.status == 500
    assert len(waits) == 3


def test_429_waits_for_retry_after(seeded, emulator):
    emulator.switches.fail_next(1, status=429, retry_after=1)
    hook, waits = async_hook()
    started = time.monotonic()
    asyncio.run(hook.get_customer(email=JANE["email"]))
    elapsed = time.monotonic() - started
    assert waits == [1.0]
    assert elapsed >= 1.0
    print(f"async 429 Retry-After 1 s: call took {elapsed:.3f} s")


def test_429_budget_spent(make_conn, emulator):
    emulator.switches.fail_next(10, status=429, retry_after=0.01)
    hook, waits = async_hook(make_conn(max_retries=1))
    with pytest.raises(ExpertSenderRateLimitError) as info:
        asyncio.run(hook.get_order("x"))
    assert info.value.retry_after == 0.01
    assert waits == [0.01]


def test_wrong_key(make_conn, emulator):
    hook, waits = async_hook(make_conn(api_key="es-wrong-key-000000"))
    with pytest.raises(ExpertSenderAuthError) as info:
        asyncio.run(hook.get_order("x"))
    assert info.value.status == 401
    assert waits == []


def test_read_timeout_is_retried_for_reads(make_conn, emulator):
    hook, waits = async_hook(make_conn(read_timeout=0.2, max_retries=1))
    emulator.switches.hang = True
    try:
        with pytest.raises(ExpertSenderTransportError) as info:
            asyncio.run(hook.get_order("x"))
    finally:
        emulator.switches.hang = False
    assert info.value.maybe_applied is True
    assert len(waits) == 1


def test_connection_refused(down_conn):
    hook, waits = async_hook(down_conn)
    with pytest.raises(ExpertSenderTransportError) as info:
        asyncio.run(hook.get_order("x"))
    assert info.value.maybe_applied is False
    assert "could not connect" in info.value.message
    assert len(waits) == 2


def test_empty_body_and_truncated_body(expertsender_conn, emulator):
    hook, waits = async_hook()
    emulator.switches.empty_200 = True
    with pytest.raises(ExpertSenderResponseError):
        asyncio.run(hook.get_order("x"))
    emulator.switches.empty_200 = False
    emulator.switches.truncated_body = True
    with pytest.raises(ExpertSenderTransportError):
        asyncio.run(hook.get_order("x"))
    assert len(waits) == 3


def test_redirect_is_not_followed(recorder, monkeypatch):
    elsewhere = recorder()
    origin = recorder(status=302, headers={"Location": f"{elsewhere.url}/orders/id/1"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_REDIRECT",
        json.dumps({"conn_type": "expertsender", "host": origin.url, "password": "es-redirect-key-1234"}),
    )
    hook, _ = async_hook("es_redirect")
    with pytest.raises(ExpertSenderResponseError, match="not followed"):
        asyncio.run(hook.get_order("1"))
    assert elsewhere.seen == []
    headers = {k.lower(): v for k, v in origin.seen[0]["headers"].items()}
    assert headers["x-api-key"] == "es-redirect-key-1234"
    assert headers["user-agent"].startswith("airflow-provider-expertsender/")


def test_arguments_are_checked_before_any_request(expertsender_conn, emulator):
    hook, _ = async_hook()
    with pytest.raises(ExpertSenderConfigError):
        asyncio.run(hook.get_customer(email="a@b.c", crm_id="1"))
    with pytest.raises(ExpertSenderConfigError):
        asyncio.run(hook.get_order(" "))
    assert emulator.requests == []


def test_uri_connection_and_no_key_in_logs(emulator, monkeypatch, caplog, capfd):
    from urllib.parse import quote

    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_URI",
        f"expertsender://:{quote(emulator.api_key, safe='')}@{quote(emulator.url, safe='')}"
        "?max_retries=1&backoff_base=0.01&read_timeout=3",
    )
    hook, waits = async_hook("es_uri")
    emulator.switches.fail_next(1, status=503)
    with caplog.at_level(logging.DEBUG), pytest.raises(ExpertSenderNotFoundError):
        asyncio.run(hook.get_customer(email="ghost@example.com"))
    assert len(waits) == 1
    config = asyncio.run(hook.get_config())
    assert (config.max_retries, config.read_timeout) == (1, 3.0)
    out, err = capfd.readouterr()
    assert emulator.api_key not in caplog.text + out + err
