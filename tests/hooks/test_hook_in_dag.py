"""The hook inside a real task run (dag.test() on this Airflow line): masking, retries, XCom.

(The test session's logging is not Airflow's task logging, so the masker's effect on log *output* cannot be
observed here; the task asks the masker directly instead.)
"""

from __future__ import annotations

import pytest

DAG_SOURCE = """
from __future__ import annotations

import pendulum
from airflow_provider_expertsender._compat import BaseHook

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def es_hook_in_task():
    @task
    def roundtrip():
        from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

        with ExpertSenderHook() as hook:
            result = hook.upsert_customers([{"email": "dag@example.com", "firstName": "Dag"}])
            customer = hook.get_customer(email="dag@example.com")
            consents = hook.list_consents()
            key = hook.config.api_key
        from airflow_provider_expertsender._compat import redact

        masked = str(redact(f"x-api-key: {key}"))
        return {
            "accepted": result.accepted,
            "first_name": customer["firstName"],
            "consents": len(consents),
            "key_masked": key not in masked and "***" in masked,
        }

    roundtrip()


es_hook_in_task()
"""


@pytest.mark.dag
def test_hook_in_a_task(run_dag, expertsender_conn, emulator, capfd):
    emulator.switches.fail_next(1, status=503)  # the first request is retried inside the task
    result = run_dag(DAG_SOURCE, "es_hook_in_task")
    out, err = capfd.readouterr()
    assert result.state == "success", out[-3000:] + err[-3000:]
    # key_masked: inside the task, the secrets masker knows the key once the hook has read the connection.
    assert result.xcom("roundtrip") == {"accepted": 1, "first_name": "Dag", "consents": 3, "key_masked": True}
    assert emulator.store(emulator.api_key).customer(email="dag@example.com") is not None
    assert "POST /customers -> 503; retry 1/3" in out + err
    assert emulator.api_key not in out + err
