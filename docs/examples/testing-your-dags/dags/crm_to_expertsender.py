"""New CRM sign-ups to ExpertSender: upsert them, then fire the welcome scenario for each.

The DAG of docs/testing-your-dags.md: a user's own DAG, tested in ``tests/`` against the emulator.
"""

from __future__ import annotations

import pendulum

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook
from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task

WELCOME_EVENT_ID = 12  # Automation -> Scenarios -> Custom events, in your business unit


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def crm_to_expertsender():
    @task
    def new_signups() -> list[dict]:
        # In your project: a query against your CRM or warehouse.
        return [
            {"email": "ada@example.com", "first_name": "Ada"},
            {"email": "alan@example.com", "first_name": "Alan"},
        ]

    @task
    def welcome(signups: list[dict]) -> int:
        hook = ExpertSenderHook()
        for signup in signups:
            hook.send_custom_event(
                WELCOME_EVENT_ID, email=signup["email"], data_fields={"first_name": signup["first_name"]}
            )
        return len(signups)

    signups = new_signups()
    upsert = ExpertSenderUpsertCustomersOperator(task_id="upsert_customers", customers=signups)
    upsert >> welcome(signups)


crm_to_expertsender()
