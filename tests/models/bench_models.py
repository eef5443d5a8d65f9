"""Validation throughput of the payload models (a script, not a test).

    python tests/models/bench_models.py [--records 200000]

Validates typical records (the figures in docs/models.md) and prints records/s, in CPU time (what the
validation itself costs, steady on a shared machine) and in wall time. The payload functions take their fast
path on these records (``models/_fast.py``); the "model path" lines validate the same records with the
pydantic models alone, which is what a record the fast path gives up on costs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

CUSTOMER = {
    "email": "jane.doe@example.com",
    "crm_id": 10042,
    "first_name": "Jane",
    "last_name": "Doe",
    "gender": "female",
    "date_of_birth": date(1991, 6, 30),
    "custom_attributes": {"loyalty_tier": "gold", "points": 120},
    "consents": {1: True},
}
MINIMAL_CUSTOMER = {"email": "jane.doe@example.com", "firstName": "Jane"}
ORDER = {
    "id": "100000231",
    "date": datetime(2025, 11, 3, 14, 5, tzinfo=timezone.utc),
    "time_zone": "Europe/Warsaw",
    "website_id": 7,
    "status": "paid",
    "currency": "PLN",
    "total_value": Decimal("259.98"),
    "returns_value": 0,
    "customer": {"email": "jane.doe@example.com", "crm_id": "10042"},
    "products": [
        {
            "id": "SKU-77",
            "name": "Trail shoe",
            "price": Decimal("129.99"),
            "quantity": 2,
            "returned": 0,
            "url": "https://shop.example/p/77",
            "image_url": "https://shop.example/i/77.jpg",
            "category": "Shoes | Running",
            "product_attributes": {"size": "42"},
        }
    ],
    "order_attributes": {"shipping_method": "courier"},
}


def measure(name: str, call: Callable[[dict[str, Any], int], object], record: dict[str, Any], n: int) -> None:
    records = [dict(record, id=str(i)) if "products" in record else dict(record) for i in range(n)]
    call(records[0], 0)
    cpu, wall = time.process_time(), time.perf_counter()
    for index, item in enumerate(records):
        call(item, index)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name:<38} {n / cpu:>10,.0f} records/s CPU  {n / wall:>10,.0f} records/s wall  ({n:,} records)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    n = parser.parse_args().records
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    from airflow_provider_expertsender.models import SettingsCatalog, customer_payload, order_payload
    from airflow_provider_expertsender.models.customers import Customer
    from airflow_provider_expertsender.models.orders import Order

    print(
        f"import airflow_provider_expertsender.models: {time.perf_counter() - start:.2f}s (Airflow included)"
    )
    catalog = SettingsCatalog.from_lists(
        customer_attributes=[{"id": 1, "name": "loyalty_tier", "type": "SingleSelect"},
                             {"id": 2, "name": "points", "type": "Number"}],
        consents=[{"id": 1, "name": "Newsletter", "type": "Email"}],
        order_attributes=[{"id": 1, "name": "shipping_method", "type": "SingleSelect"}],
        product_attributes=[{"id": 1, "name": "size", "type": "String"}],
    )  # fmt: skip

    def customer(record: dict[str, Any], index: int) -> object:
        return customer_payload(record, match_by="Email", index=index)

    def customer_checked(record: dict[str, Any], index: int) -> object:
        return customer_payload(record, match_by="Email", index=index, settings=catalog)

    def order(record: dict[str, Any], index: int) -> object:
        return order_payload(record, index=index)

    def order_checked(record: dict[str, Any], index: int) -> object:
        return order_payload(record, index=index, settings=catalog)

    def customer_model(record: dict[str, Any], index: int) -> object:
        return Customer.model_validate(record, context={"match_by": "Email", "settings": None}).to_api()

    def order_model(record: dict[str, Any], index: int) -> object:
        return Order.model_validate(record, context={"settings": None}).to_api()

    measure("customer_payload (minimal)", customer, MINIMAL_CUSTOMER, n)
    measure("customer_payload (typical)", customer, CUSTOMER, n)
    measure("customer_payload (typical, settings)", customer_checked, CUSTOMER, n)
    measure("  model path (typical)", customer_model, CUSTOMER, n)
    measure("order_payload (1 product line)", order, ORDER, n // 4)
    measure("order_payload (1 line, settings)", order_checked, ORDER, n // 4)
    measure("  model path (1 product line)", order_model, ORDER, n // 4)


if __name__ == "__main__":
    main()
