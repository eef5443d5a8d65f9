"""Bulk custom events, order status changes and deletes: many records per task, one request per record.

A warehouse query (here a TaskFlow task standing in for it) selects the customers a "price drop" scenario
should reach; one task fires the custom event for all of them, ``max_concurrency`` requests at a time, and
never twice: an event whose answer is lost is reported in doubt, and a task retry resumes from the write's
checkpoint. The same engine then marks orders completed and deletes test orders, an order already gone
counting as done. Against a real business unit, set ``CUSTOM_EVENT_ID`` to one of yours: this DAG writes data.
"""

from __future__ import annotations

import pendulum

from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventsOperator
from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrdersOperator,
    ExpertSenderRegisterOrdersOperator,
    ExpertSenderUpdateOrderStatusesOperator,
)

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task

CUSTOM_EVENT_ID = 12  # the id shown in Automation -> Scenarios -> Custom events


@dag(
    dag_id="example_expertsender_bulk_writes",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
)
def example_expertsender_bulk_writes():
    @task(show_return_value_in_logs=False)  # customer e-mails: keep them out of the task log
    def price_drops() -> list[dict]:
        """Stands in for a warehouse query: one row per customer, data fields as data_* columns."""
        return [
            {"email": f"shopper{i}@example.com", "data_product": "Trail shoe", "data_new_price": 99.0 - i}
            for i in range(20)
        ]

    # [START howto_operator_send_custom_events]
    fire = ExpertSenderSendCustomEventsOperator(
        task_id="send_custom_events",
        custom_event_id=CUSTOM_EVENT_ID,
        events=price_drops(),  # or source_path="s3://...", or sql=... with sql_conn_id=...
        max_concurrency=8,
        max_rejected=0,  # an event in doubt fails the task (it is in the dead letters, never re-sent)
        # run_id, not ds: a run triggered from the UI or the REST API of Airflow 3 has no logical date, and
        # then no ds either (the template fails to render).
        dead_letter_path="/tmp/expertsender/dead/price_drop-{{ run_id }}.jsonl",
    )
    # [END howto_operator_send_custom_events]

    register = ExpertSenderRegisterOrdersOperator(
        task_id="register_orders",
        orders=[
            {
                "id": f"BULK-{i}",
                "date": "2025-11-03T14:05:00Z",
                "currency": "EUR",
                "total_value": 99.0,
                "customer": {"email": f"shopper{i}@example.com"},
                "products": [{"id": "SKU-1", "name": "Trail shoe", "price": 99.0, "quantity": 1}],
            }
            for i in range(6)
        ],
    )

    # [START howto_operator_update_order_statuses]
    complete = ExpertSenderUpdateOrderStatusesOperator(
        task_id="update_order_statuses",
        changes=[{"order_id": f"BULK-{i}", "status": "completed"} for i in range(4)],
    )
    # [END howto_operator_update_order_statuses]

    # [START howto_operator_delete_orders]
    cleanup = ExpertSenderDeleteOrdersOperator(
        task_id="delete_orders",
        order_ids=["BULK-4", "BULK-5", "BULK-404"],  # BULK-404 does not exist: counted in already_gone
    )
    # [END howto_operator_delete_orders]

    fire >> register >> complete >> cleanup


example_expertsender_bulk_writes()
