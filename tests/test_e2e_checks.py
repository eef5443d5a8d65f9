"""The log checks of ``make e2e`` (scripts/e2e.py), on lines of the shapes a real run served.

The deployment itself runs in ``make e2e`` only; these tests pin what its personal-data check calls a leak.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _e2e():
    spec = importlib.util.spec_from_file_location("_e2e_script", ROOT / "scripts" / "e2e.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_e2e_script"] = module
    spec.loader.exec_module(module)
    return module


EMAILS = {"ada@example.com", "alan@example.com", "customer0042@example.com"}


def test_a_returned_value_naming_a_customer_is_a_leak():
    e2e = _e2e()
    line = '{"event": "Done. Returned value was: [{\'email\': \'ada@example.com\'}]", "level": "info"}'
    leaks, documented = e2e.personal_data({"dag.task try 1": [line]}, EMAILS)
    assert leaks == ["dag.task try 1: ada@example.com"]
    assert documented == []


def test_identifiers_of_invalid_and_rejected_records_are_documented_not_leaks():
    e2e = _e2e()
    lines = [
        '{"event": "Invalid customer record #1 (alan@example.com): points: not a number"}',
        '{"event": "Rejected by the API: customer #10 (customer0042@example.com): not an option"}',
    ]
    leaks, documented = e2e.personal_data({"dag.upsert try 1": lines}, EMAILS)
    assert leaks == []
    assert [entry.split(" (")[0] for entry in documented] == [
        "dag.upsert try 1: alan@example.com",
        "dag.upsert try 1: customer0042@example.com",
    ]


def test_a_trigger_event_carrying_a_record_is_a_leak():
    """The triggerer logs every event, and the UI serves that log: an event carries no record."""
    e2e = _e2e()
    line = (
        '{"event": "trigger ... completed", "result": "TriggerEvent<{\'status\': \'success\', '
        "'record': {'email': 'ada@example.com'}}>\"}"
    )
    leaks, documented = e2e.personal_data({"dag.wait_for_customer try 1": [line]}, EMAILS)
    assert leaks == ["dag.wait_for_customer try 1: ada@example.com"]
    assert documented == []


def test_addresses_that_are_not_the_runs_are_not_counted():
    e2e = _e2e()
    leaks, _ = e2e.personal_data({"t try 1": ["mail admin@localhost or ops@elsewhere.org"]}, EMAILS)
    assert leaks == []


def test_the_example_folder_helper_gives_the_warehouse_set_up_commands():
    e2e = _e2e()
    commands = e2e.setup_commands({"warehouse_path": "/x/warehouse.db"})
    assert commands[0][:2] == ["pools", "set"]
    assert commands[1][:3] == ["connections", "add", "expertsender_example_warehouse"]


def test_each_line_runs_its_own_processes():
    e2e = _e2e()
    af3 = dict(e2e.deployment_processes(3, 8080))
    af2 = dict(e2e.deployment_processes(2, 8080))
    assert set(af3) == {"api-server", "scheduler", "dag-processor", "triggerer", "celery-worker"}
    # 2.10: the webserver serves the UI and /api/v1; the scheduler parses the DAGs (no dag-processor).
    assert set(af2) == {"webserver", "scheduler", "triggerer", "celery-worker"}
    assert af2["webserver"][:3] == ["webserver", "--hostname", "127.0.0.1"]
    assert "8080" in af2["webserver"]


def test_the_2_10_settings_enable_basic_auth_and_xcom_deserialisation():
    e2e = _e2e()
    af2 = e2e.line_settings(2, 8080)
    assert af2["AIRFLOW__API__AUTH_BACKENDS"] == "airflow.api.auth.backend.basic_auth"
    assert af2["AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT"] == "True"
    assert not any(key.startswith("AIRFLOW__API_AUTH__") for key in af2)
    assert e2e.line_settings(3, 8080)["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith(":8080/execution/")


def test_health_needs_the_dag_processor_on_airflow_3_only():
    e2e = _e2e()
    healthy = {"status": "healthy"}
    answer_2 = {"metadatabase": healthy, "scheduler": healthy, "triggerer": healthy, "dag_processor": None}
    assert e2e.is_healthy(answer_2, 2)
    assert not e2e.is_healthy(answer_2, 3)
    assert not e2e.is_healthy({**answer_2, "triggerer": {"status": "unhealthy"}}, 2)


def test_a_manual_run_body_per_line():
    e2e = _e2e()
    assert e2e.trigger_body(3) == {"logical_date": None, "conf": {}}
    assert e2e.trigger_body(2) == {"conf": {}}


def test_xcom_values_of_both_lines_are_read_back():
    e2e = _e2e()
    assert e2e.xcom_value({"accepted": 2}) == {"accepted": 2}  # 3.3, deserialised
    assert e2e.xcom_value('{"accepted": 2}') == {"accepted": 2}  # JSON text
    assert e2e.xcom_value("{'accepted': 2, 'dry_run': False}") == {
        "accepted": 2,
        "dry_run": False,
    }  # 2.10 str()
    assert e2e.xcom_value("plain") == "plain"


def test_the_2_10_admin_user_is_an_admin_with_the_runs_password():
    """The REST API's basic auth checks this user (``airflow()`` echoes the command, password hidden)."""
    e2e = _e2e()
    command = e2e.admin_user_command("s3cret")
    assert command[command.index("--password") + 1] == "s3cret"
    assert command[command.index("--role") + 1] == "Admin"


def test_task_states_leave_out_a_mapped_tasks_placeholder():
    e2e = _e2e()
    history = {("d", "m", -1): ["none"], ("d", "m", 0): ["queued", "success"], ("d", "t", -1): ["success"]}
    assert e2e.task_state_lines(history) == ["d.m[0]: queued -> success", "d.t: success"]


def test_each_deployment_needs_its_own_database_and_redis_db(monkeypatch):
    e2e = _e2e()
    monkeypatch.setenv("E2E_REDIS_DB", "11")
    monkeypatch.setenv("E2E_AF2_REDIS_DB", "11")
    with pytest.raises(SystemExit):
        e2e.lines_from_env([3, 2])
    monkeypatch.setenv("E2E_AF2_REDIS_DB", "12")
    af3, af2 = e2e.lines_from_env([3, 2])
    assert (af3.api, af2.api) == ("/api/v2", "/api/v1")
    assert af3.db != af2.db


def test_only_runs_an_asset_update_started_count_as_scheduled():
    e2e = _e2e()
    runs = [
        {"run_type": "manual", "state": "success"},
        {"run_type": "asset_triggered", "state": "running"},  # Airflow 3
        {"run_type": "dataset_triggered", "state": "success"},  # Airflow 2.10
        {"run_type": "scheduled", "state": "success"},
    ]
    assert [r["run_type"] for r in e2e.scheduled_runs(runs)] == ["asset_triggered", "dataset_triggered"]
