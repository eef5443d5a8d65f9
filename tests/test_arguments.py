"""arguments.py: the one "was it given" rule and the one "exactly one identifier" check."""

from __future__ import annotations

import pytest

from airflow_provider_expertsender.arguments import is_given, one_identifier, require
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError


@pytest.mark.parametrize(
    ("value", "given"), [(None, False), ("", False), ("  \n", False), ("a", True), (0, True)]
)
def test_none_and_blank_strings_are_not_given(value, given):
    assert is_given(value) is given


def test_a_blank_identifier_beside_a_real_one_is_ignored():
    assert one_identifier({"email": " ", "phone": "+48600100200"}, what="x") == ("phone", "+48600100200")


def test_messages_name_the_arguments_never_their_values():
    with pytest.raises(ExpertSenderConfigError) as info:
        one_identifier({"email": "jane@example.com", "phone": "+48600100200"}, what="The hook")
    assert "email, phone" in info.value.message
    assert "jane@example.com" not in info.value.message


def test_a_bool_is_never_an_identifier():
    with pytest.raises(ExpertSenderConfigError, match="email must be a string or a number"):
        one_identifier({"email": True, "phone": None}, what="x")
    with pytest.raises(ExpertSenderConfigError, match="order_id must be a string or a number"):
        require("order_id", False, what="x")


def _airflow_context_vars(task):
    """What Airflow exports to a task's environment (AIRFLOW_CTX_*; 2.10 logs it in every task log)."""
    try:
        from airflow.sdk.execution_time.context import context_to_airflow_vars
    except ImportError:  # Airflow 2.10
        from airflow.utils.operator_helpers import context_to_airflow_vars
    return context_to_airflow_vars({"task": task}, in_env_var_format=True)


def _customer_email_operators():
    from airflow_provider_expertsender.operators.customers import ExpertSenderGetCustomerOperator
    from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator
    from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor

    return [
        ExpertSenderGetCustomerOperator(task_id="get", email="grace@example.com"),
        ExpertSenderSendCustomEventOperator(task_id="event", custom_event_id=12, email="grace@example.com"),
        ExpertSenderCustomerSensor(task_id="wait", email="grace@example.com"),
    ]


def test_the_customers_email_is_never_the_tasks_alert_address():
    """``email=`` names the customer; an operator's ``email`` attribute is where Airflow sends failure and
    retry alerts, and Airflow 2.10 logs it in every task log (``AIRFLOW_CTX_DAG_EMAIL='grace@...'``: found by
    ``make e2e`` on a 2.10 Celery deployment, where the served logs are scanned for customer addresses)."""
    for op in _customer_email_operators():
        assert not op.email, type(op).__name__
        assert "grace@example.com" not in _airflow_context_vars(op).values(), type(op).__name__
        assert op._identifiers()["email"] == "grace@example.com"
        assert "customer_email" in op.template_fields
        assert "email" not in op.template_fields


def test_the_alert_addresses_a_dag_gives_stay_the_tasks():
    from airflow_provider_expertsender.operators.customers import ExpertSenderGetCustomerOperator

    op = ExpertSenderGetCustomerOperator(task_id="get", crm_id="C-1815")
    op.email = ["ops@example.org"]  # BaseOperator's attribute, as a DAG author sets it after construction
    assert op._identifiers() == {"customer_id": None, "email": None, "phone": None, "crm_id": "C-1815"}


@pytest.mark.parametrize("alerts", [["ops@example.org"], "ops@example.org"])
def test_a_dags_default_alert_addresses_are_never_the_customer(alerts):
    """``default_args={"email": ...}`` is how DAGs set their alert addresses, and Airflow hands a default to
    every operator whose signature has that parameter: it reached the customer's ``email=``, so a lookup by
    ``crm_id=`` failed at parse time ("got 2 (email, crm_id)") and one without an identifier looked up the
    alert addresses. The alerts stay the task's."""
    import pendulum

    try:  # Airflow 3
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.10
        from airflow import DAG  # type: ignore[no-redef,assignment]

    from airflow_provider_expertsender.operators.customers import ExpertSenderGetCustomerOperator
    from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator
    from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor

    start = pendulum.datetime(2025, 1, 1, tz="UTC")
    with DAG("alerts", schedule=None, start_date=start, default_args={"email": alerts}):
        ops = [
            ExpertSenderGetCustomerOperator(task_id="get", crm_id="C-1815"),
            ExpertSenderSendCustomEventOperator(task_id="event", custom_event_id=12, crm_id="C-1815"),
            ExpertSenderCustomerSensor(task_id="wait", crm_id="C-1815"),
        ]
        for op in ops:
            assert op._identifiers()["email"] is None, type(op).__name__
            assert op._identifiers()["crm_id"] == "C-1815"
            assert op.email == alerts  # still where Airflow sends the task's alerts
        with pytest.raises(ExpertSenderConfigError, match="none was given"):
            ExpertSenderGetCustomerOperator(task_id="nothing")
        given = ExpertSenderGetCustomerOperator(task_id="given", email="grace@example.com")
        assert given._identifiers()["email"] == "grace@example.com"
        assert given.email == alerts
