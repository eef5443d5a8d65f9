"""Orders lifecycle: register an order, wait for it, mark it paid then completed, read it back, delete it.

The order is registered with ``mode="AddOrReplace"``, so re-running the DAG is safe. Against a real business
unit this DAG writes (and finally deletes) the order below; ``make demo`` runs it against the local emulator.
"""

from __future__ import annotations

import pendulum

from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrderOperator,
    ExpertSenderGetOrderOperator,
    ExpertSenderRegisterOrdersOperator,
    ExpertSenderUpdateOrderStatusOperator,
)
from airflow_provider_expertsender.sensors.orders import ExpertSenderOrderSensor

try:  # Airflow 3
    from airflow.sdk import chain, dag
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag
    from airflow.models.baseoperator import chain

ORDER_ID = "EX-1001"


@dag(
    dag_id="example_expertsender_orders",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
)
def example_expertsender_orders():
    # [START howto_operator_register_orders]
    register_order = ExpertSenderRegisterOrdersOperator(
        task_id="register_order",
        orders=[
            {
                "id": ORDER_ID,
                "date": "2025-03-14T09:26:53Z",
                "time_zone": "Europe/Warsaw",
                "status": "placed",
                "currency": "EUR",
                "total_value": 84.50,
                "customer": {"email": "ada@example.com"},
                "products": [
                    {"id": "SKU-7", "name": "Notebook", "price": 12.25, "quantity": 2},
                    {"id": "SKU-9", "name": "Fountain pen", "price": 60.00, "quantity": 1},
                ],
                "order_attributes": [{"name": "shipping_method", "value": "courier"}],
            }
        ],
        mode="AddOrReplace",
    )
    # [END howto_operator_register_orders]

    # [START howto_sensor_order]
    wait_for_order = ExpertSenderOrderSensor(
        task_id="wait_for_order",
        order_id=ORDER_ID,
        target_statuses=["placed", "paid"],
        failure_statuses=["canceled"],
        deferrable=True,
        poke_interval=30,
        timeout=60 * 60,
        do_xcom_push=False,  # the order names its customer: keep it out of XCom and the trigger event
    )
    # [END howto_sensor_order]

    # [START howto_operator_update_order_status]
    mark_paid = ExpertSenderUpdateOrderStatusOperator(task_id="mark_paid", order_id=ORDER_ID, status="paid")
    mark_completed = ExpertSenderUpdateOrderStatusOperator(
        task_id="mark_completed", order_id=ORDER_ID, status="completed"
    )
    # [END howto_operator_update_order_status]

    # [START howto_operator_get_order]
    get_order = ExpertSenderGetOrderOperator(task_id="get_order", order_id=ORDER_ID)
    # [END howto_operator_get_order]

    # [START howto_operator_delete_order]
    delete_order = ExpertSenderDeleteOrderOperator(task_id="delete_order", order_id=ORDER_ID, missing_ok=True)
    # [END howto_operator_delete_order]

    chain(register_order, wait_for_order, mark_paid, mark_completed, get_order, delete_order)


example_expertsender_orders()
