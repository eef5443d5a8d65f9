"""The crm_to_expertsender DAG, run end to end against the ExpertSender emulator."""

from __future__ import annotations

import pytest
from airflow.models import DagBag


@pytest.fixture
def dag(airflow_db):
    # The DAGs folder that conftest.py set (examples off): parsing it also catches import errors.
    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("crm_to_expertsender")


def test_signups_arrive_and_are_welcomed(dag, expertsender_conn, expertsender_emulator):
    run = dag.test()

    assert run.state == "success"
    unit = expertsender_emulator.store(expertsender_emulator.api_key)
    assert unit.customer(email="ada@example.com")["firstName"] == "Ada"
    assert [event["customerEmail"] for event in unit.events] == ["ada@example.com", "alan@example.com"]


def test_an_outage_fails_the_run_before_anyone_is_welcomed(dag, expertsender_conn, expertsender_emulator):
    expertsender_emulator.switches.error_rate = 1.0  # every request answers 503, retries included

    run = dag.test()

    assert run.state == "failed"
    assert expertsender_emulator.store(expertsender_emulator.api_key).events == []
