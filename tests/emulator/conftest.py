"""Helpers for the emulator's own tests: a small HTTP client bound to one API key."""

from __future__ import annotations

from typing import Any

import pytest
import requests


class Api:
    """``requests`` against the emulator with one business unit's key (or none)."""

    def __init__(self, url: str, key: str | None) -> None:
        self.url = url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["x-api-key"] = key

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def customers(self, *items: dict[str, Any], mode: str = "AddOrUpdate", match_by: str = "Email"):
        return self.post("/customers", {"mode": mode, "matchBy": match_by, "data": list(items)})

    def orders(self, *items: dict[str, Any], mode: str = "AddOrReplace"):
        return self.post("/orders", {"mode": mode, "data": list(items)})


def order(order_id: str = "o-1", **fields: Any) -> dict[str, Any]:
    """A valid order payload; ``fields`` override or add properties."""
    base: dict[str, Any] = {
        "id": order_id,
        "date": "2025-11-03T14:05:00Z",
        "currency": "PLN",
        "totalValue": 259.98,
        "status": "paid",
        "customer": {"email": "jane.doe@example.com"},
        "products": [{"id": "SKU-77", "name": "Trail shoe", "price": 129.99, "quantity": 2}],
    }
    base.update(fields)
    return base


def assert_problem(response: requests.Response, status: int, substatus: str | None = None) -> dict[str, Any]:
    """The response is RFC 7807 problem details with ExpertSender's substatus; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "substatus", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    if substatus is not None:
        assert body["substatus"] == substatus
    return body


def errors_of(response: requests.Response) -> dict[str, list[str]]:
    """The ASP.NET ``errors`` map of a 400."""
    body = assert_problem(response, 400)
    return body["errors"]


@pytest.fixture
def api(emulator) -> Api:
    return Api(emulator.url, emulator.api_key)


@pytest.fixture
def api2(emulator) -> Api:
    """The second business unit."""
    return Api(emulator.url, emulator.api_keys[1])


@pytest.fixture
def anonymous(emulator) -> Api:
    return Api(emulator.url, None)
