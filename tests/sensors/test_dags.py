"""Both sensors in real DAGs, run with ``dag.test()``: poke, reschedule and deferrable mode.

In deferrable mode ``dag.test()`` runs the trigger inline (Airflow 3: in the in-process test supervisor, with
its async connection lookup), then resumes the task with the event: the full protocol, no triggerer process.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sensors.ecdp_data import EMAIL

pytestmark = pytest.mark.dag

DAG_TEMPLATE = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor
from airflow_provider_expertsender.sensors.orders import ExpertSenderOrderSensor

MODE = dict(__MODE__)
PAY = __PAY__

with DAG(
    dag_id="__DAG_ID__",
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    catchup=False,
    params={"email": "__EMAIL__", "order_id": "ORD-1"},
):
    customer = ExpertSenderCustomerSensor(
        task_id="wait_for_customer",
        email="{{ params.email }}",
        check=lambda customer: customer.get("lastName") == "Doe",
        poke_interval=0.2,
        timeout=120,
        **MODE,
    )
    order = ExpertSenderOrderSensor(
        task_id="wait_for_order",
        order_id="{{ params.order_id }}",
        target_statuses=["paid", "completed"],
        poke_interval=0.2,
        timeout=120,
        **MODE,
    )

    # Writes made while the sensors run, readable only visibility_delay_s later: each sensor's first poke
    # finds its condition unmet and it has to wait.
    @task
    def name_customer() -> None:
        with ExpertSenderHook() as hook:
            hook.upsert_customers([{"email": "__EMAIL__", "lastName": "Doe"}])

    @task
    def pay_order() -> None:
        if PAY:
            with ExpertSenderHook() as hook:
                hook.update_order_status("ORD-1", "paid")

    name_customer() >> customer >> pay_order() >> order
"""

MODES = {
    "poke": {"mode": "poke", "deferrable": False},
    "reschedule": {"mode": "reschedule", "deferrable": False},
    "deferrable": {"deferrable": True},
}


def dag_source(dag_id: str, mode: dict[str, Any], *, pay: bool = True) -> str:
    source = DAG_TEMPLATE.replace("__DAG_ID__", dag_id).replace("__MODE__", repr(mode))
    return source.replace("__EMAIL__", EMAIL).replace("__PAY__", repr(pay))


def get_requests(emulator: Any, route: str) -> int:
    return sum(1 for r in emulator.requests if r.method == "GET" and r.route == route)


@pytest.mark.parametrize("mode", list(MODES))
def test_both_sensors_wait_then_succeed(
    mode: str, run_dag: Any, emulator: Any, ecdp: Any, expertsender_conn: str
) -> None:
    ecdp.customer(firstName="Jane")
    ecdp.order("ORD-1", status="placed")
    # The DAG's own writes (the last name the customer sensor's check needs, the payment the order sensor
    # waits for) become readable only 1.5 s after they are made.
    emulator.switches.visibility_delay_s = 1.5

    dag_id = f"expertsender_sensors_{mode}"
    result = run_dag(dag_source(dag_id, MODES[mode]), dag_id)

    assert result.state == "success", result.task_states
    customer = result.xcom("wait_for_customer")
    assert (customer["email"], customer["firstName"], customer["lastName"]) == (EMAIL, "Jane", "Doe")
    order = result.xcom("wait_for_order")
    assert (order["id"], order["status"]) == ("ORD-1", "paid")
    assert get_requests(emulator, "/customers/email/{value}") >= 2
    assert get_requests(emulator, "/orders/id/{order_id}") >= 2


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_canceled_order_fails_the_run_fast(
    mode: str, run_dag: Any, emulator: Any, ecdp: Any, expertsender_conn: str
) -> None:
    ecdp.customer(firstName="Jane")
    ecdp.order("ORD-1", status="canceled")

    dag_id = f"expertsender_sensors_canceled_{mode}"
    result = run_dag(dag_source(dag_id, MODES[mode], pay=False), dag_id)

    assert result.state == "failed"
    assert result.task_states == {
        "name_customer": "success",
        "wait_for_customer": "success",
        "pay_order": "success",
        "wait_for_order": "failed",
    }


DEADLINE_DAG = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor

with DAG(dag_id="expertsender_sensor_deadline", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    ExpertSenderCustomerSensor(
        task_id="wait_for_nobody", email="nobody@example.com", poke_interval=0.2, timeout=1, deferrable=True
    )
"""


def test_deferrable_deadline_fails_the_task(run_dag: Any, emulator: Any, expertsender_conn: str) -> None:
    result = run_dag(DEADLINE_DAG, "expertsender_sensor_deadline")
    assert result.state == "failed"
    assert result.task_states == {"wait_for_nobody": "failed"}
    assert get_requests(emulator, "/customers/email/{value}") >= 2  # the first poke, then the trigger's
