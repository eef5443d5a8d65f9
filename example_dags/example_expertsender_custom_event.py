"""Scenario custom event: make sure the customer exists, then fire a custom event carrying data fields.

A custom event starts the scenarios that listen to it (Automation -> Scenarios -> Custom events in
ExpertSender); its data fields fill the scenario's messages. Each request fires the event once, so the event
task is not retried when ExpertSender may already have received it (see ``retry_unsafe``). Against a real
business unit, set ``CUSTOM_EVENT_ID`` to one of yours: this DAG writes a customer and fires the event.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pendulum

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator

try:  # Airflow 3
    from airflow.sdk import dag
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag

CUSTOM_EVENT_ID = 12  # the id shown in Automation -> Scenarios -> Custom events


@dag(
    dag_id="example_expertsender_custom_event",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
)
def example_expertsender_custom_event():
    upsert_customer = ExpertSenderUpsertCustomersOperator(
        task_id="upsert_customer",
        customers=[{"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"}],
    )

    # [START howto_operator_send_custom_event]
    send_event = ExpertSenderSendCustomEventOperator(
        task_id="send_custom_event",
        custom_event_id=CUSTOM_EVENT_ID,
        email="grace@example.com",
        # Python values give the types (str -> String, date -> Date, bool -> Boolean, numbers -> Number);
        # name the type for the others (Money, Text, URL, ...).
        data_fields={
            "coupon_code": "SPRING-25",
            "discount": {"type": "Money", "value": Decimal("25.00")},
            "valid_until": date(2025, 4, 30),
            "first_order": True,
        },
    )
    # [END howto_operator_send_custom_event]

    upsert_customer >> send_event


example_expertsender_custom_event()
