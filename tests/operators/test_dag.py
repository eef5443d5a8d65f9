"""The operators together in real DAGs (``dag.test()``): XCom passing, templating, dynamic task mapping.

The same tests run on both Airflow lines (one venv each).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.dag

_IMPORTS = """
from __future__ import annotations

from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_expertsender.operators.customers import (
    ExpertSenderGetCustomerOperator,
    ExpertSenderUpsertCustomersOperator,
)
from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator
from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrderOperator,
    ExpertSenderGetOrderOperator,
    ExpertSenderRegisterOrdersOperator,
    ExpertSenderUpdateOrderStatusOperator,
)
from airflow_provider_expertsender.operators.settings import ExpertSenderListSettingsOperator

START = pendulum.datetime(2025, 1, 1, tz="UTC")
"""

PIPELINE = (
    _IMPORTS
    + """
with DAG(
    dag_id="es_operators_pipeline",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"email": "jane.doe@example.com", "event_id": 12},
):
    settings = ExpertSenderListSettingsOperator.partial(task_id="settings").expand(
        setting=["consents", "order_attributes"]
    )

    @task
    def new_customers():
        return [
            {"email": "jane.doe@example.com", "first_name": "Jane", "crm_id": "CRM-42"},
            {"email": "john.roe@example.com", "first_name": "John", "crm_id": "CRM-43"},
        ]

    upsert = ExpertSenderUpsertCustomersOperator(task_id="upsert", customers=new_customers())
    jane = ExpertSenderGetCustomerOperator(task_id="get_jane", email="{{ params.email }}")
    nobody = ExpertSenderGetCustomerOperator(task_id="get_nobody", crm_id="CRM-0", missing_ok=True)
    upsert >> [jane, nobody]

    @task
    def orders_of(customer):
        return [
            {
                "id": f"ORD-{n}",
                "date": "2025-11-03T14:05:00Z",
                "customer": {"email": customer["email"]},
                "products": [{"id": "SKU-77", "name": "Trail shoe", "price": 129.99, "quantity": n}],
                "total_value": 129.99 * n,
            }
            for n in (1, 2, 3)
        ]

    @task
    def ids_of(orders):
        return [order["id"] for order in orders]

    orders = orders_of(jane.output)
    register = ExpertSenderRegisterOrdersOperator(task_id="register", orders=orders)
    order_ids = ids_of(orders)
    fetched = ExpertSenderGetOrderOperator.partial(task_id="get_orders").expand(order_id=order_ids)
    paid = ExpertSenderUpdateOrderStatusOperator.partial(task_id="mark_paid", status="Paid").expand(
        order_id=order_ids
    )
    register >> fetched >> paid

    @task
    def completions(ids):
        return [{"order_id": order_id, "status": "completed"} for order_id in ids[:2]]

    completed = ExpertSenderUpdateOrderStatusOperator.partial(task_id="complete").expand_kwargs(
        completions(order_ids)
    )
    paid >> completed

    @task
    def id_of(customer):
        return customer["id"]

    by_id = ExpertSenderGetCustomerOperator(task_id="get_jane_by_id", customer_id=id_of(jane.output))

    @task
    def count(results):
        return len(list(results))

    thank_you = ExpertSenderSendCustomEventOperator(
        task_id="thank_you",
        custom_event_id="{{ params.event_id }}",
        customer_id="{{ ti.xcom_pull(task_ids='get_jane')['id'] }}",
        data_fields={"orders_paid": count(paid.output), "coupon": "THANKS-{{ params.event_id }}"},
    )
    delete = ExpertSenderDeleteOrderOperator(task_id="delete_last", order_id="ORD-3")
    thank_you >> delete
"""
)


def _xcom_or_none(result, task_id):
    try:
        return result.xcom(task_id)
    except KeyError:
        return None


def test_pipeline_of_operators_with_xcom_and_mapping(
    run_dag, emulator, expertsender_conn, store, caplog, capfd
):
    result = run_dag(PIPELINE, "es_operators_pipeline")
    assert result.state == "success", result.task_states

    consents, order_attributes = result.mapped_xcoms("settings")
    assert consents == [item.public() for item in store.settings("consents")]
    assert order_attributes == [item.public() for item in store.settings("order_attributes")]

    assert result.xcom("upsert")["accepted"] == 2
    jane = result.xcom("get_jane")
    assert (jane["email"], jane["crmId"]) == ("jane.doe@example.com", "CRM-42")
    assert result.task_states["get_nobody"] == "success"
    assert _xcom_or_none(result, "get_nobody") is None  # missing_ok; Airflow 3 does not store a None

    assert result.xcom("register")["accepted"] == 3
    fetched = result.mapped_xcoms("get_orders")
    assert [order["id"] for order in fetched] == ["ORD-1", "ORD-2", "ORD-3"]
    assert [order["products"][0]["quantity"] for order in fetched] == [1, 2, 3]
    assert result.mapped_xcoms("mark_paid") == [
        {"order_id": f"ORD-{n}", "status": "paid", "website_id": None} for n in (1, 2, 3)
    ]

    assert result.xcom("thank_you") == {"custom_event_id": 12, "identifier": "customer_id", "data_fields": 2}
    [event] = store.events
    assert event["customerId"] == jane["id"]
    assert sorted(event["dataFields"], key=lambda f: f["name"]) == [
        {"name": "coupon", "type": "String", "value": "THANKS-12"},
        {"name": "orders_paid", "type": "Number", "value": "3"},
    ]
    assert result.xcom("delete_last") == {"order_id": "ORD-3", "deleted": True}
    assert result.mapped_xcoms("complete") == [
        {"order_id": f"ORD-{n}", "status": "completed", "website_id": None} for n in (1, 2)
    ]
    statuses = {order["id"]: order["status"] for order in store.orders}
    assert statuses == {"ORD-1": "completed", "ORD-2": "completed", "ORD-3": "paid"}
    assert result.xcom("get_jane_by_id") == jane

    # The API key appears in no XCom value and no log line; no line logged by the provider names the
    # customers (Airflow's own @task logging of returned values is not ours to police).
    xcoms = [result.xcom(t) for t in ("upsert", "get_jane", "register", "thank_you", "delete_last")]
    xcoms += [result.mapped_xcoms(t) for t in ("settings", "get_orders", "mark_paid", "complete")]
    out, err = capfd.readouterr()
    assert emulator.api_key not in json.dumps(xcoms)
    provider_lines = [r.getMessage() for r in caplog.records if "expertsender" in r.name]
    for text in (caplog.text, out, err):
        assert emulator.api_key not in text
        provider_lines += [line for line in text.splitlines() if "airflow_provider_expertsender" in line]
    assert provider_lines, "expected log lines from the provider's operators"
    for line in provider_lines:
        assert "jane.doe@example.com" not in line
        assert "CRM-42" not in line


FAILURE = (
    _IMPORTS
    + """
with DAG(dag_id="es_operators_failure", schedule=None, start_date=START, catchup=False):
    missing = ExpertSenderGetOrderOperator(task_id="missing_order", order_id="NOPE")
    after = ExpertSenderListSettingsOperator(task_id="after_missing", setting="consents")
    missing >> after
"""
)


def test_not_found_fails_the_task(run_dag, emulator, expertsender_conn, store):
    result = run_dag(FAILURE, "es_operators_failure")
    assert result.state == "failed"
    assert result.task_states == {"missing_order": "failed", "after_missing": "upstream_failed"}


AMBIGUOUS_EVENT = (
    _IMPORTS
    + """
with DAG(dag_id="es_operators_ambiguous_event", schedule=None, start_date=START, catchup=False):
    ExpertSenderSendCustomEventOperator(
        task_id="event",
        custom_event_id=3,
        email="jane.doe@example.com",
        retries=2,
        retry_delay=timedelta(0),
    )
"""
)


def test_an_event_that_may_have_fired_is_not_retried(run_dag, emulator, expertsender_conn, store):
    # The event request is applied, then the connection drops: the task must fail without using its retries.
    # The fault is served once, so a task retry would succeed and fire the event a second time.
    emulator.switches.drop_next(1, after_apply=True)
    result = run_dag(AMBIGUOUS_EVENT, "es_operators_ambiguous_event")
    assert result.state == "failed"
    assert result.task_states == {"event": "failed"}
    assert len(store.events) == 1
