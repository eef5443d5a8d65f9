"""Malformed requests at every layer: framing, bodies of the wrong JSON type, odd nesting; the admin API."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_expertsender.emulator import Emulator
from airflow_provider_expertsender.emulator.server import MAX_BODY_BYTES
from tests.emulator.conftest import Api, assert_problem, errors_of, order

BODY_ENDPOINTS = [
    ("POST", "/customers"),
    ("POST", "/orders"),
    ("PUT", "/orders/status"),
    ("PUT", "/orders"),
    ("POST", "/scenariocustomevents"),
    ("POST", "/exports/customers"),
    ("POST", "/exports/channels/activity"),
]


def raw_exchange(emulator, request: bytes) -> bytes:
    """Send raw bytes, return everything the server answers before it closes."""
    parts = urlsplit(emulator.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize("body", [[1, 2], "text", 3])
def test_every_body_must_be_a_json_object(api, method, path, body):
    assert "$" in errors_of(api.call(method, path, json=body))


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_every_body_endpoint_refuses_non_json_and_empty(api, method, path):
    assert_problem(api.call(method, path, data="x", headers={"Content-Type": "text/plain"}), 415)
    assert "" in errors_of(api.call(method, path, data=b"", headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize(
    ("record", "key"),
    [
        ({"email": "a@example.com", "customAttributes": {"name": "city"}}, "data[0].customAttributes"),
        ({"email": "a@example.com", "consentsData": ["x"]}, "data[0].consentsData"),
        (
            {"email": "a@example.com", "consentsData": {"consents": {"id": 1}}},
            "data[0].consentsData.consents",
        ),
        ({"email": "a@example.com", "consentsData": {"consents": [7]}}, "data[0].consentsData.consents[0]"),
    ],
)
def test_wrongly_nested_customer_fields(api, record, key):
    assert key in errors_of(api.customers(record))


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("not an order", "data[0]"),
        (order(customer="jane@example.com"), "data[0].customer"),
        (order(products={"id": "p"}), "data[0].products"),
        (order(orderAttributes={"name": "gift_wrap"}), "data[0].orderAttributes"),
    ],
)
def test_wrongly_nested_order_fields(api, item, key):
    assert key in errors_of(api.orders(item))


def test_bad_end_date(api):
    assert "endDate" in errors_of(
        api.post("/exports/channels/activity", {"startDate": "2025-01-01", "endDate": "soon"})
    )


def test_customer_export_with_only_consents_keeps_the_id_column(api):
    api.customers({"email": "a@example.com", "consentsData": {"consents": [{"id": 2, "value": "False"}]}})
    api.post(
        "/exports/customers",
        {"segmentId": 1, "consents": [{"id": 2}], "customAttributes": [{"name": "points"}]},
    )
    assert api.get("/exports/1/download").text.splitlines() == ["id,points,SMS offers", "1,,False"]


def test_boolean_attribute_values_export_as_json_spelling(api):
    api.customers(
        {"email": "a@example.com", "customAttributes": [{"name": "newsletter_opt_in", "value": True}]}
    )
    api.post("/exports/customers", {"segmentId": 1, "customAttributes": [{"name": "newsletter_opt_in"}]})
    assert api.get("/exports/1/download").text.splitlines()[1] == "1,true"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: abc\r\n", b"400"),
        (b"Content-Length: -5\r\n", b"400"),
        (f"Content-Length: {MAX_BODY_BYTES + 1}\r\n".encode(), b"413"),
        (b"Transfer-Encoding: chunked\r\n", b"400"),
    ],
)
def test_broken_framing_is_refused_and_closed(emulator, headers, status):
    request = (
        b"POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"x-api-key: {emulator.api_key}\r\n".encode()
        + headers
        + b"\r\nzz\r\n"
    )
    answer = raw_exchange(emulator, request)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert b'"substatus":"BadRequest"' in answer
    assert emulator.requests[-1].status == int(status)


def test_chunked_body_over_the_limit(emulator, monkeypatch):
    monkeypatch.setattr("airflow_provider_expertsender.emulator.server.MAX_BODY_BYTES", 10)
    request = (
        b"POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"Transfer-Encoding: chunked\r\n"
        + f"x-api-key: {emulator.api_key}\r\n\r\n".encode()
        + b'b\r\n{"mode":123}\r\n0\r\n\r\n'
    )
    assert raw_exchange(emulator, request).startswith(b"HTTP/1.1 413")


def test_admin_api_in_process():
    with Emulator(["k1", "k2"], admin=True) as emu:
        admin = f"{emu.url}/_emulator"
        assert (
            requests.patch(f"{admin}/switches", json={"max_batch_size": 1}, timeout=5).json()[
                "max_batch_size"
            ]
            == 1
        )
        assert emu.switches.max_batch_size == 1
        assert requests.put(f"{admin}/switches", json={"max_batch_size": None}, timeout=5).status_code == 200
        assert requests.post(f"{admin}/fail-next", json={"status": 418}, timeout=5).status_code == 400
        assert requests.post(f"{admin}/fail-next", json={"bogus": 1}, timeout=5).status_code == 400
        assert requests.post(f"{admin}/drop-next", json={"n": 2}, timeout=5).json() == {"pending_faults": 2}
        emu.switches.clear_faults()
        Api(emu.url, "k2").customers({"email": "two@example.com"})
        units = requests.get(f"{admin}/units", timeout=5).json()
        assert [u["unit"] for u in units] == [0, 1]
        assert units[1]["counters"]["customers_created"] == 1
        assert "k2" not in requests.get(f"{admin}/units", timeout=5).text
        assert requests.get(f"{admin}/units/1/events", timeout=5).json() == []
        assert requests.get(f"{admin}/units/1/secrets", timeout=5).status_code == 404
        assert requests.get(f"{admin}/requests", timeout=5).json()[0]["items"] == 1
        assert emu.requests[-1].path == "/customers"  # admin calls are not logged
        assert requests.post(f"{admin}/reset", timeout=5).status_code == 200
        assert emu.store("k2").customers == []


def test_admin_paths_are_ordinary_404s_without_admin(emulator):
    assert_problem(Api(emulator.url, emulator.api_key).get("/_emulator/switches"), 404, "ResourceNotFound")


def test_route_of_an_unknown_path():
    from airflow_provider_expertsender.emulator.server import RequestRecord

    assert RequestRecord("GET", "/nowhere", 404, 0, 0.0).route == "(no route)"
    assert RequestRecord("DELETE", "/orders/x", 200, 0, 0.0).route == "/orders/{order_id}"
