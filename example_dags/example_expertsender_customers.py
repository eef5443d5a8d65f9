"""Customers: upsert from a list and from an upstream task's XCom, wait for a customer, look one up.

``mode="AddOrUpdate"`` creates missing customers and updates existing ones, so re-running the DAG is safe.
ExpertSender processes writes asynchronously: a customer just upserted may not be readable for a while. The
sensor waits for it (deferred: in the triggerer, holding no worker slot) instead of assuming it is there;
``make e2e`` runs the emulator with a 20 s visibility delay, so on its Celery deployment the sensor goes
through ``deferred`` before it succeeds.
Against a real business unit this DAG writes the customers below into it (use attribute names and consent ids
of your own: the ones here match the emulator's settings); ``make demo`` runs it against the local emulator.
"""

from __future__ import annotations

from typing import Any

import pendulum

from airflow_provider_expertsender.operators.customers import (
    ExpertSenderGetCustomerOperator,
    ExpertSenderUpsertCustomersOperator,
)
from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task

NEWSLETTER_CONSENT_ID = 1  # an id from GET /customerconsents (ExpertSenderListSettingsOperator)


# [START howto_sensor_customer_check]
def has_newsletter_consent(customer: dict[str, Any]) -> bool:
    """True once the customer has granted the newsletter consent."""
    consents = (customer.get("consentsData") or {}).get("consents") or []
    return any(c.get("id") == NEWSLETTER_CONSENT_ID and c.get("value") == "True" for c in consents)


# [END howto_sensor_customer_check]


@dag(
    dag_id="example_expertsender_customers",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
)
def example_expertsender_customers():
    # [START howto_operator_upsert_customers]
    upsert_customers = ExpertSenderUpsertCustomersOperator(
        task_id="upsert_customers",
        customers=[
            {
                "email": "ada@example.com",
                "crm_id": "C-1815",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "gender": "Female",
                "date_of_birth": "1815-12-10",
                "custom_attributes": [{"name": "loyalty_tier", "value": "gold"}],
                "consents_data": {"consents": [{"id": NEWSLETTER_CONSENT_ID, "value": "True"}]},
            },
            {"email": "alan@example.com", "crm_id": "C-1912", "first_name": "Alan", "last_name": "Turing"},
        ],
        mode="AddOrUpdate",
        match_by="Email",
    )
    # [END howto_operator_upsert_customers]

    # [START howto_operator_upsert_customers_from_xcom]
    @task(show_return_value_in_logs=False)  # the records are personal data: keep them out of the task log
    def new_signups() -> list[dict[str, Any]]:
        """Stands for any upstream step: an API call, a query, a file drop."""
        return [
            {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"},
            {"email": "edsger@example.com", "first_name": "Edsger", "last_name": "Dijkstra"},
        ]

    ExpertSenderUpsertCustomersOperator(task_id="upsert_signups", customers=new_signups())
    # [END howto_operator_upsert_customers_from_xcom]

    # [START howto_sensor_customer]
    wait_for_customer = ExpertSenderCustomerSensor(
        task_id="wait_for_customer",
        email="ada@example.com",
        check=has_newsletter_consent,  # optional: runs on the worker, never in the triggerer
        deferrable=True,
        poke_interval=30,
        timeout=60 * 60,
        do_xcom_push=False,  # the customer is personal data: keep it out of XCom unless a task needs it
    )
    # [END howto_sensor_customer]

    # [START howto_operator_get_customer]
    get_customer = ExpertSenderGetCustomerOperator(task_id="get_customer", crm_id="C-1815")
    # [END howto_operator_get_customer]

    upsert_customers >> wait_for_customer >> get_customer


example_expertsender_customers()
