"""Sample data for ``example_expertsender_warehouse_sync``: a small SQL warehouse and a landing folder.

Not a DAG: the helper that makes the warehouse-sync example runnable on a fresh deployment. Run it once on the
machine (or shared volume) the Celery workers read from::

    python expertsender_sample_data.py                      # writes /tmp/expertsender-example/
    python expertsender_sample_data.py /srv/expertsender-example

It writes ``warehouse.db`` (sqlite: a ``customers`` and an ``orders`` table) and ``landing/`` (customers as
CSV, orders as JSON Lines), then prints the Airflow commands that finish the set-up (the pool and the
warehouse connection). The example's run parameters default to ``/tmp/expertsender-example``, so with the
default folder the DAG runs without a run configuration. ``make demo``, ``make e2e`` and the tests use the
same data.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

#: Where the data goes by default: the example DAG's run parameters point here.
DEFAULT_FOLDER = Path("/tmp/expertsender-example")
#: The Airflow connection id the example reads SQL from (its ``warehouse_conn_id`` parameter's default).
WAREHOUSE_CONN_ID = "expertsender_example_warehouse"
#: The Airflow pool that bounds concurrent ExpertSender requests across tasks (docs/scale-out.md).
POOL = "expertsender_api"
POOL_SLOTS = 4

_FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken"]
_LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Hamilton",
    "Thompson",
]
_TIERS = ["bronze", "silver", "gold"]
_PRODUCTS = [("SKU-1", "Notebook", 12.25), ("SKU-2", "Fountain pen", 60.0), ("SKU-3", "Ink", 7.5)]
_SHIPPING = ["courier", "pickup", "post"]


def _customer(n: int) -> dict[str, Any]:
    return {
        "email": f"customer{n:04d}@example.com",
        "crm_id": f"C-{n:04d}",
        "first_name": _FIRST[n % len(_FIRST)],
        "last_name": _LAST[n % len(_LAST)],
        "attr_loyalty_tier": _TIERS[n % len(_TIERS)],
    }


def _order(n: int, customers: int) -> dict[str, Any]:
    """An order with one to two product lines, in the API's nested shape (snake_case)."""
    lines = [_PRODUCTS[n % len(_PRODUCTS)], *([_PRODUCTS[(n + 1) % len(_PRODUCTS)]] if n % 4 == 0 else [])]
    products: list[dict[str, Any]] = [
        {"id": sku, "name": name, "price": price, "quantity": 1 + (n + i) % 3}
        for i, (sku, name, price) in enumerate(lines)
    ]
    return {
        "id": f"WH-{n:05d}",
        "date": f"2025-02-{1 + n % 28:02d}T12:00:00Z",
        "status": "paid",
        "currency": "EUR",
        "total_value": round(sum(p["price"] * p["quantity"] for p in products), 2),
        "customer": {"email": f"customer{n % customers:04d}@example.com"},
        "order_attributes": [{"name": "shipping_method", "value": _SHIPPING[n % len(_SHIPPING)]}],
        "products": products,
    }


def _order_rows(number: int, order: dict[str, Any]) -> list[dict[str, Any]]:
    """The warehouse's flat shape of an order: one row per product line."""
    head = {
        "order_no": number,
        "id": order["id"],
        "date": order["date"],
        "status": order["status"],
        "currency": order["currency"],
        "total_value": order["total_value"],
        "customer_email": order["customer"]["email"],
        "attr_shipping_method": order["order_attributes"][0]["value"],
    }
    return [
        {**head, "line_no": line, **{f"product_{k}": v for k, v in product.items()}}
        for line, product in enumerate(order["products"])
    ]


def _write_table(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    db.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
    db.executemany(
        f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})",
        [tuple(row[c] for c in columns) for row in rows],
    )


def make_sample_data(folder: Path, customers: int = 120, orders: int = 80) -> dict[str, Any]:
    """Create the sample warehouse and landing folder of the warehouse-sync example; return what is where.

    The warehouse (a sqlite file) has a ``customers`` and an ``orders`` table (one row per product line); the
    landing folder has customers as CSV files and orders as JSON Lines. A few records are invalid on purpose
    (a malformed e-mail address, a negative total: refused locally; a loyalty tier the business unit does not
    have: refused by the API) so that the example shows its dead-letter files.

    :returns: ``warehouse_path``, ``warehouse_conn`` (the connection as JSON, for ``AIRFLOW_CONN_*``),
        ``landing_path``, and the counts ``customers``, ``orders`` and ``invalid`` (records that cannot land).
    """
    folder.mkdir(parents=True, exist_ok=True)
    # New sample data is usually sent to a new business unit (a fresh emulator): forget what the example's
    # incremental-sync state says was sent before, or the next run would skip it.
    shutil.rmtree(folder / "state", ignore_errors=True)
    warehouse = folder / "warehouse.db"
    warehouse.unlink(missing_ok=True)
    sql_customers = [{"customer_no": n, **_customer(n)} for n in range(customers)]
    sql_customers[7]["email"] = "not-an-address"
    sql_customers[42]["attr_loyalty_tier"] = "platinum"
    sql_orders = [_order(n, customers) for n in range(orders)]
    sql_orders[13]["total_value"] = -1
    db = sqlite3.connect(warehouse)
    with db:
        _write_table(db, "customers", sql_customers)
        _write_table(db, "orders", [row for n, o in enumerate(sql_orders) for row in _order_rows(n, o)])
    db.close()

    landing = folder / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    (landing / "customers").mkdir(parents=True)
    (landing / "orders").mkdir(parents=True)
    file_customers = [_customer(n) for n in range(customers, customers + customers // 2)]
    file_customers[3]["email"] = "also not an address"
    for part in range(2):
        with open(landing / "customers" / f"part-{part}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(file_customers[0]))
            writer.writeheader()
            writer.writerows(file_customers[part::2])
    file_orders = [_order(n, customers) for n in range(orders, orders + orders // 2)]
    with open(landing / "orders" / "orders.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(order) + "\n" for order in file_orders)
    return {
        "warehouse_path": str(warehouse),
        "warehouse_conn": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "landing_path": str(landing),
        "customers": len(sql_customers) + len(file_customers),
        "orders": len(sql_orders) + len(file_orders),
        "invalid": 4,
    }


def setup_commands(data: dict[str, Any]) -> list[list[str]]:
    """The ``airflow`` CLI commands (arguments after ``airflow``) that finish the example's set-up."""
    sqlite = ["--conn-type", "sqlite", "--conn-host", data["warehouse_path"]]
    return [
        ["pools", "set", POOL, str(POOL_SLOTS), "ExpertSender API requests"],
        ["connections", "add", WAREHOUSE_CONN_ID, *sqlite],
    ]


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DEFAULT_FOLDER
    data = make_sample_data(folder)
    print(f"Sample warehouse: {data['warehouse_path']}; landing folder: {data['landing_path']}")
    counts = f"{data['customers']} customers and {data['orders']} orders"
    print(f"{counts}, {data['invalid']} of them invalid on purpose.")
    print("Finish the set-up (once per deployment):")
    for command in setup_commands(data):
        print("  airflow " + " ".join(repr(a) if " " in a else a for a in command))
    if folder != DEFAULT_FOLDER:
        conf = {"landing_path": data["landing_path"], "dead_letter_path": str(folder / "dead-letters")}
        print(f"Trigger the DAG with the run configuration {json.dumps(conf)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
