"""Helpers of the model tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderInvalidRecordError, InvalidRecord

#: A complete order as a user writes it: snake_case keys, Python values (an offset datetime, Decimals, an int
#: id, a string website id, a status in capitals), attributes as plain mappings. Its API form is
#: ``API_ORDER`` in test_orders.py. The attributes exist in the emulator's seeded settings.
SNAKE_ORDER = {
    "id": 100000231,
    "date": datetime(2025, 11, 3, 15, 5, tzinfo=timezone(timedelta(hours=1))),
    "time_zone": "Europe/Warsaw",
    "website_id": "7",
    "status": "PAID",
    "currency": "pln",
    "total_value": Decimal("259.98"),
    "returns_value": 0,
    "customer": {"email": "jane.doe@example.com", "crm_id": 10042},
    "products": [
        {
            "id": "SKU-77",
            "name": "Trail shoe",
            "price": "129.99",
            "quantity": 2,
            "returned": 0,
            "url": "https://shop.example/p/77",
            "image_url": "https://shop.example/i/77.jpg",
            "category": "Shoes | Running",
            "product_attributes": {"size": 42},
        }
    ],
    "order_attributes": {"shipping_method": "courier"},
}


def rejected(call: Callable[[], Any]) -> InvalidRecord:
    """Run ``call``, expect ExpertSenderInvalidRecordError, return its record."""
    with pytest.raises(ExpertSenderInvalidRecordError) as info:
        call()
    return info.value.record


def problems(call: Callable[[], Any]) -> dict[str, str]:
    """The {field: rule} problems of an invalid record (fails if a field is reported twice)."""
    record = rejected(call)
    found: dict[str, str] = {}
    for problem in record.problems:
        assert problem.field not in found, f"{problem.field} reported twice: {record.problems}"
        found[problem.field] = problem.rule
    return found
