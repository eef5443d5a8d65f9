"""Both sensors in real DAGs, run with ``dag.test()``: poke, reschedule and deferrable mode.

In deferrable mode ``dag.test()`` runs the trigger inline (Airflow 3: in the in-process test supervisor, with
its async connection lookup), then resumes the task with the event: the full protocol, no triggerer process.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from airflow_provider_expertsender import _compat
from tests.sensors.ecdp_data import EMAIL

pytestmark = pytest.mark.dag

AIRFLOW_3 = importlib.util.find_spec("airflow.sdk") is not None

DAG_TEMPLATE = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor
from airflow_provider_expertsender.sensors.orders import ExpertSenderOrderSensor

MODE = dict(__MODE__)

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

    customer >> order
"""

MODES = {
    "poke": {"mode": "poke", "deferrable": False},
    "reschedule": {"mode": "reschedule", "deferrable": False},
    "deferrable": {"deferrable": True},
}


def dag_source(dag_id: str, mode: dict[str, Any]) -> str:
    source = DAG_TEMPLATE.replace("__DAG_ID__", dag_id).replace("__MODE__", repr(mode))
    return source.replace("__EMAIL__", EMAIL)


def get_requests(emulator: Any, route: str) -> int:
    return sum(1 for r in emulator.requests if r.method == "GET" and r.route == route)


@pytest.mark.parametrize("mode", list(MODES))
def test_both_sensors_wait_then_succeed(
    mode: str, run_dag: Any, emulator: Any, ecdp: Any, expertsender_conn: str
) -> None:
    ecdp.customer(firstName="Jane")
    ecdp.order("ORD-1", status="placed")
    # Each write happens only after the sensor has looked once and found its condition unmet (the check
    # needs lastName; the order is "placed"), so every sensor has to wait, in every mode.
    ecdp.after_gets(1, ecdp.customer, lastName="Doe", route="/customers/email/{value}")
    ecdp.after_gets(1, ecdp.status, "ORD-1", "paid", route="/orders/id/{order_id}")

    dag_id = f"expertsender_sensors_{mode}"
    result = run_dag(dag_source(dag_id, MODES[mode]), dag_id)

    assert result.state == "success", result.task_states
    customer = result.xcom("wait_for_customer")
    assert (customer["email"], customer["firstName"], customer["lastName"]) == (EMAIL, "Jane", "Doe")
    order = result.xcom("wait_for_order")
    assert (order["id"], order["status"]) == ("ORD-1", "paid")


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_canceled_order_fails_the_run_fast(
    mode: str, run_dag: Any, emulator: Any, ecdp: Any, expertsender_conn: str
) -> None:
    ecdp.customer(firstName="Jane", lastName="Doe")
    ecdp.order("ORD-1", status="canceled")

    dag_id = f"expertsender_sensors_canceled_{mode}"
    result = run_dag(dag_source(dag_id, MODES[mode]), dag_id)

    assert result.state == "failed"
    assert result.task_states == {"wait_for_customer": "success", "wait_for_order": "failed"}


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


@pytest.fixture
def db_conn(emulator: Any, airflow_db: None) -> Any:
    """An ``expertsender`` connection stored in the metadata DB, not the environment.

    On Airflow 3 a task and a trigger can then only read it through the supervisor (the execution API): the
    trigger's connection lookup must be the async-safe one.
    """
    import json

    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from tests.plugins.emulator import FAST_EXTRAS

    conn_id = "expertsender_in_db"
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type="expertsender",
                host=emulator.url,
                password=emulator.api_key,
                extra=json.dumps(FAST_EXTRAS),
            )
        )
    yield conn_id
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()


@pytest.mark.xfail(
    # 3.0 has no aget_connection: the connection is read synchronously in a thread, which works there.
    AIRFLOW_3 and hasattr(_compat.BaseHook, "aget_connection"),
    reason="Airflow 3's dag.test() runs triggers with InProcessSupervisorComms, which has no asend(): "
    "BaseHook.aget_connection cannot reach the metadata DB there (the real triggerer's comms can)",
    strict=True,
)
def test_deferrable_with_a_connection_from_the_metadata_db(
    run_dag: Any, emulator: Any, ecdp: Any, db_conn: str
) -> None:
    # ecdp writes through the environment's connection (same emulator and key); the DAG uses the DB one.
    ecdp.customer(firstName="Jane")
    ecdp.order("ORD-1", status="placed")
    ecdp.after_gets(1, ecdp.customer, lastName="Doe", route="/customers/email/{value}")
    ecdp.after_gets(1, ecdp.status, "ORD-1", "paid", route="/orders/id/{order_id}")
    dag_id = "expertsender_sensors_db_conn"
    result = run_dag(dag_source(dag_id, {"deferrable": True, "expertsender_conn_id": db_conn}), dag_id)
    assert result.state == "success", result.task_states
    assert result.xcom("wait_for_order")["status"] == "paid"


MAPPED_DAG = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_expertsender.sensors.orders import ExpertSenderOrderSensor

with DAG(dag_id="expertsender_sensor_mapped", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    ExpertSenderOrderSensor.partial(
        task_id="wait_for_orders", target_statuses=["paid"], poke_interval=0.2, timeout=120, deferrable=True
    ).expand(order_id=["ORD-1", "ORD-2", "ORD-3"])
"""


def test_mapped_deferrable_sensors(run_dag: Any, emulator: Any, ecdp: Any, expertsender_conn: str) -> None:
    ecdp.order("ORD-1", status="paid")
    ecdp.order("ORD-2", status="placed")
    ecdp.order("ORD-3", status=None)
    # Mapped instances run in index order here: ORD-2 is paid only after its own first poke (the second GET).
    for order_id in ("ORD-2", "ORD-3"):
        ecdp.after_gets(2, ecdp.status, order_id, "paid", route="/orders/id/{order_id}")
    result = run_dag(MAPPED_DAG, "expertsender_sensor_mapped")
    assert result.state == "success", result.task_states
    assert [o["id"] for o in result.mapped_xcoms("wait_for_orders")] == ["ORD-1", "ORD-2", "ORD-3"]
    assert {o["status"] for o in result.mapped_xcoms("wait_for_orders")} == {"paid"}
