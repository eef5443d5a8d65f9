"""Warehouse sync: customers and orders from SQL and from files, partitioned, throttled, with dead letters.

* Customers are read from a SQL warehouse (any Airflow SQL connection) in ``PARTITIONS`` slices, one mapped
  task per slice (dynamic task mapping); orders with one query. Both are also read from files dropped in a
  landing folder (a local path or an object-storage URI such as ``s3://aws_default@bucket/landing``).
* Every write task runs in the Airflow pool ``expertsender_api``: its slots, times each task's
  ``max_concurrency``, bound the requests in flight against the business unit, however many tasks are mapped.
  Without the pool the write tasks never start (Airflow queues a task only in a pool that exists).
* Invalid records do not stop the sync: they are skipped, written with the reason to a dead-letter file per
  task, and the task fails only when more than 10 % of its records did not land.
* Customers are written before orders, so the orders' customers exist.
* The SQL writes are incremental: each keeps a sync state (``state_path``, one per partition) and sends only
  the customers and orders that are new or changed since the run that confirmed them; a second run over the
  same tables sends nothing. Against a fresh business unit (a restarted emulator), delete the state folder
  first. See docs/incremental-sync.md.

Flat rows are mapped automatically: ``attr_<name>`` columns become custom attributes, ``customer_<field>``
the order's customer, and ``product_<field>`` one product line per row (rows sorted by order id). Against a
real business unit this DAG writes every customer and order it reads.

On a fresh deployment (what ``make e2e`` runs, on a CeleryExecutor deployment):

1. ``airflow pools set expertsender_api 4 "ExpertSender API requests"``
2. ``python expertsender_sample_data.py`` (next to this file) writes a sample warehouse and landing folder to
   ``/tmp/expertsender-example``, where this DAG's parameters point by default (on the workers' machine);
3. ``airflow connections add expertsender_example_warehouse --conn-type sqlite --conn-host
   /tmp/expertsender-example/warehouse.db``
4. trigger the DAG: no run configuration needed. For your own data, pass ``warehouse_conn_id``,
   ``landing_path`` and ``dead_letter_path`` in the run configuration (or change the defaults below).
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.orders import ExpertSenderRegisterOrdersOperator

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task

log = logging.getLogger(__name__)

POOL = "expertsender_api"
PARTITIONS = 4
# One folder of dead letters per run; each write task writes its own file there.
DEAD_LETTERS = "{{ params.dead_letter_path }}/{{ run_id }}"


@dag(
    dag_id="example_expertsender_warehouse_sync",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
    # Run-time settings, overridable per run (trigger form, `airflow dags test --conf`).
    params={
        # The defaults are where expertsender_sample_data.py puts the sample data.
        "warehouse_conn_id": "expertsender_example_warehouse",  # the Airflow SQL connection to read
        "landing_path": "/tmp/expertsender-example/landing",  # customers/*.csv, orders/*.jsonl; path or URI
        "dead_letter_path": "/tmp/expertsender-example/dead-letters",  # records that did not land
        "state_path": "/tmp/expertsender-example/state",  # incremental sync; an object-storage URI on Celery
    },
)
def example_expertsender_warehouse_sync():
    # [START howto_warehouse_sync_sql_partitions]
    @task
    def customer_queries(partitions: int = PARTITIONS) -> list[str]:
        """One query per slice of the customers table; each becomes a mapped task."""
        return [
            "SELECT email, crm_id, first_name, last_name, attr_loyalty_tier FROM customers "
            f"WHERE customer_no % {partitions} = {part} ORDER BY customer_no"
            for part in range(partitions)
        ]

    customers_from_sql = ExpertSenderUpsertCustomersOperator.partial(
        task_id="customers_from_sql",
        sql_conn_id="{{ params.warehouse_conn_id }}",
        on_invalid="skip",
        max_rejected=0.1,
        dead_letter_path=DEAD_LETTERS + "/customers-sql-{{ ti.map_index }}.jsonl",
        # One state per partition: the partitions are stable (customer_no % PARTITIONS).
        state_path="{{ params.state_path }}/customers-sql-{{ ti.map_index }}.sqlite",
        max_concurrency=2,
        pool=POOL,
    ).expand(sql=customer_queries())
    # [END howto_warehouse_sync_sql_partitions]

    # [START howto_warehouse_sync_files]
    customers_from_files = ExpertSenderUpsertCustomersOperator(
        task_id="customers_from_files",
        source_path="{{ params.landing_path }}/customers/*.csv",
        on_invalid="skip",
        max_rejected=0.1,
        dead_letter_path=DEAD_LETTERS + "/customers-files.jsonl",
        pool=POOL,
    )
    # [END howto_warehouse_sync_files]

    # [START howto_warehouse_sync_orders]
    orders_from_sql = ExpertSenderRegisterOrdersOperator(
        task_id="orders_from_sql",
        sql_conn_id="{{ params.warehouse_conn_id }}",
        # One row per product line, sorted by order: consecutive rows of one order form its product list.
        sql=(
            "SELECT id, date, status, currency, total_value, customer_email, attr_shipping_method, "
            "product_id, product_name, product_price, product_quantity FROM orders ORDER BY order_no, line_no"
        ),
        on_invalid="skip",
        max_rejected=0.1,
        dead_letter_path=DEAD_LETTERS + "/orders-sql.jsonl",
        state_path="{{ params.state_path }}/orders-sql.sqlite",
        pool=POOL,
    )
    orders_from_files = ExpertSenderRegisterOrdersOperator(
        task_id="orders_from_files",
        source_path="{{ params.landing_path }}/orders/",
        on_invalid="skip",
        max_rejected=0.1,
        dead_letter_path=DEAD_LETTERS + "/orders-files.jsonl",
        pool=POOL,
    )
    # [END howto_warehouse_sync_orders]

    # [START howto_warehouse_sync_report]
    @task(trigger_rule="all_done")
    def report(summaries: list[Any]) -> dict[str, int]:
        """Totals over every write task, mapped or not: what was read, landed, skipped, rejected."""
        flat = [s for item in summaries for s in ([item] if isinstance(item, dict) else item or [])]
        totals = {
            key: sum(s.get(key, 0) for s in flat if s) for key in ("read", "accepted", "invalid", "rejected")
        }
        log.info("Warehouse sync totals: %s", totals)
        return totals

    # [END howto_warehouse_sync_report]

    # Customers first, so the orders' customers exist.
    for orders in (orders_from_sql, orders_from_files):
        [customers_from_sql, customers_from_files] >> orders
    report(
        [
            customers_from_sql.output,
            customers_from_files.output,
            orders_from_sql.output,
            orders_from_files.output,
        ]
    )


example_expertsender_warehouse_sync()
