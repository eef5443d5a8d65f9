"""ExpertSenderCustomerSensor against the emulator over real HTTP: poke and deferrable modes.

Reschedule mode and full DAG runs (``dag.test()``, trigger inline) are in ``test_dags.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor
from tests.sensors.ecdp_data import API_KEY_MARKER, EMAIL, request_counter
from tests.sensors.runner import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
    one_event,
    run_sensor,
)

FAST = 0.05


def sensor(**kwargs: Any) -> ExpertSenderCustomerSensor:
    kwargs.setdefault("task_id", "wait_for_customer")
    kwargs.setdefault("poke_interval", FAST)
    kwargs.setdefault("timeout", 20)
    if not any(k in kwargs for k in ("customer_id", "email", "phone", "crm_id")):
        kwargs["email"] = EMAIL
    return ExpertSenderCustomerSensor(**kwargs)


class TestArguments:
    def test_needs_one_identifier(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="none was given"):
            ExpertSenderCustomerSensor(task_id="t")

    def test_refuses_two_identifiers(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match=r"got 2 \(email, crm_id\)"):
            ExpertSenderCustomerSensor(task_id="t", email=EMAIL, crm_id="CRM-1")

    def test_two_templated_identifiers_are_checked_after_rendering(self, expertsender_conn: str) -> None:
        s = ExpertSenderCustomerSensor(
            task_id="t", email="{{ params.email }}", crm_id="{{ params.crm }}", poke_interval=FAST, timeout=0
        )
        with pytest.raises(ExpertSenderConfigError, match="got 2"):
            run_sensor(s, {"params": {"email": EMAIL, "crm": "CRM-1"}})

    def test_check_must_be_callable(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="callable"):
            sensor(check="consent granted")

    def test_identifiers_are_templated(self) -> None:
        fields = set(ExpertSenderCustomerSensor.template_fields)
        assert {"customer_id", "customer_email", "phone", "crm_id"} <= fields

    def test_deferrable_defaults_to_the_airflow_option(self, fresh_import: dict[str, Any]) -> None:
        from airflow.configuration import conf

        assert sensor().deferrable is conf.getboolean("operators", "default_deferrable", fallback=False)
        assert sensor(deferrable=True).deferrable is True
        assert fresh_import["deferrable"] is True  # run with [operators] default_deferrable = True


@pytest.mark.usefixtures("expertsender_conn")
class TestPokeMode:
    @pytest.mark.parametrize("style", ["404", "200_null"])
    def test_customer_appearing_after_a_few_pokes(
        self, emulator: Any, ecdp: Any, store: Any, style: str
    ) -> None:
        emulator.switches.not_found_style = style
        requests = request_counter(store)
        ecdp.after_gets(2, ecdp.customer, firstName="Jane")
        customer = run_sensor(sensor()).result
        assert customer["email"] == EMAIL
        assert customer["firstName"] == "Jane"
        assert requests() >= 4  # GET not found (twice), the write, GET found

    def test_templated_identifier(self, ecdp: Any, store: Any) -> None:
        ecdp.customer(crmId="CRM-42")
        customer = run_sensor(sensor(crm_id="{{ params.crm }}"), {"params": {"crm": "CRM-42"}}).result
        assert customer["id"] == store.customer(email=EMAIL)["id"]

    def test_check_waits_for_an_attribute(self, ecdp: Any) -> None:
        ecdp.customer()
        ecdp.after_gets(1, ecdp.customer, firstName="Jane")
        customer = run_sensor(sensor(check=lambda c: c.get("firstName") == "Jane")).result
        assert customer["firstName"] == "Jane"

    def test_exponential_backoff_is_the_core_sensors(self, emulator: Any, ecdp: Any, store: Any) -> None:
        # Core backoff waits at least 1 s, then longer: far fewer pokes than poke_interval=0.05 would make.
        emulator.switches.visibility_delay_s = 2.5
        ecdp.customer()
        requests = request_counter(store)
        customer = run_sensor(sensor(exponential_backoff=True, timeout=60)).result
        assert customer["email"] == EMAIL
        assert 2 <= requests() <= 4

    def test_timeout(self) -> None:
        with pytest.raises(AirflowSensorTimeout):
            run_sensor(sensor(timeout=0.3))

    def test_timeout_with_soft_fail_skips(self) -> None:
        with pytest.raises(AirflowSkipException):
            run_sensor(sensor(timeout=0.3, soft_fail=True))

    def test_auth_failure_fails_at_once(self, emulator: Any, bad_key_conn: str) -> None:
        started = time.monotonic()
        with pytest.raises(ExpertSenderAuthError) as caught:
            run_sensor(sensor(expertsender_conn_id=bad_key_conn))
        assert time.monotonic() - started < 10
        assert API_KEY_MARKER not in str(caught.value)

    def test_transient_errors_are_failed_pokes(self, emulator: Any, ecdp: Any) -> None:
        ecdp.customer()
        emulator.switches.fail_next(50, status=503)  # more than the hook retries: several pokes fail
        customer = run_sensor(sensor(timeout=60)).result
        assert customer["email"] == EMAIL

    @pytest.mark.parametrize("deferrable", [False, True])
    def test_a_400_fails_at_once(self, store: Any, expertsender_conn: str, deferrable: bool) -> None:
        requests = request_counter(store)
        # The emulator, like ASP.NET route binding, rejects a non-numeric customer id with 400.
        with pytest.raises(ExpertSenderValidationError) as caught:
            run_sensor(sensor(customer_id="not-a-number", deferrable=deferrable))
        assert caught.value.status == 400
        assert requests() == 1

    def test_xcom_value_is_the_customer(self, ecdp: Any) -> None:
        ecdp.customer()
        s = sensor()
        result = run_sensor(s).result
        assert result["email"] == EMAIL
        json.dumps(result)


@pytest.mark.usefixtures("expertsender_conn")
class TestDeferrableMode:
    def test_already_there_finishes_without_deferring(self, ecdp: Any) -> None:
        ecdp.customer()
        run = run_sensor(sensor(deferrable=True))
        assert run.deferrals == []
        assert run.result["email"] == EMAIL

    def test_defers_then_finds_the_customer(self, emulator: Any, ecdp: Any) -> None:
        ecdp.after_gets(1, ecdp.customer)  # after the first poke: the sensor defers
        run = run_sensor(sensor(deferrable=True, timeout=30))
        assert run.result["email"] == EMAIL
        assert len(run.deferrals) == 1
        deferral = run.deferrals[0]
        assert deferral.classpath.endswith("ExpertSenderCustomerTrigger")
        assert deferral.kwargs["identifier"] == "email"
        assert deferral.kwargs["delay_first_poll"] is True
        # Airflow's own deferral timeout covers the deadline (plus a grace for the trigger to report it).
        assert 30 <= deferral.timeout_s <= 30 + 61

    def test_trigger_holds_no_api_key_and_no_callable(self, emulator: Any, ecdp: Any) -> None:
        ecdp.after_gets(1, ecdp.customer, firstName="Jane")
        run = run_sensor(sensor(deferrable=True, check=lambda c: True))
        serialized = json.dumps(run.deferrals[0].kwargs)
        assert emulator.api_key not in serialized
        assert "lambda" not in serialized
        assert "check" not in serialized
        assert emulator.api_key not in json.dumps(run.deferrals[0].event)

    def test_no_record_in_the_event_without_xcom_or_check(self, ecdp: Any) -> None:
        ecdp.after_gets(1, ecdp.customer)
        run = run_sensor(sensor(deferrable=True, do_xcom_push=False))
        assert run.deferrals[0].kwargs["include_record"] is False
        assert run.deferrals[0].event["record"] is None

    def test_check_is_applied_on_resume_and_defers_again(self, ecdp: Any) -> None:
        ecdp.customer()
        # Written after the first poke, the trigger's first poll and the first resume's own read: that resume
        # finds the check unmet.
        ecdp.after_gets(3, ecdp.customer, firstName="Jane")
        run = run_sensor(sensor(deferrable=True, check=lambda c: c.get("firstName") == "Jane", timeout=30))
        assert run.result["firstName"] == "Jane"
        assert len(run.deferrals) >= 2
        # Deferring again keeps the absolute deadline.
        assert len({d.kwargs["deadline"] for d in run.deferrals}) == 1

    def test_deadline_reached(self, emulator: Any, expertsender_conn: str) -> None:
        started = time.monotonic()
        with pytest.raises(AirflowSensorTimeout, match="Timed out waiting for the customer"):
            run_sensor(sensor(deferrable=True, timeout=0.5))
        assert 0.45 <= time.monotonic() - started < 15

    def test_deadline_reached_with_soft_fail_skips(self) -> None:
        with pytest.raises(AirflowSkipException):
            run_sensor(sensor(deferrable=True, timeout=0.3, soft_fail=True))

    def test_check_never_met_times_out(self, ecdp: Any) -> None:
        ecdp.customer()
        with pytest.raises(AirflowSensorTimeout):
            run_sensor(sensor(deferrable=True, timeout=0.4, check=lambda c: False), max_deferrals=100)

    def test_auth_failure_fails_at_once(self, bad_key_conn: str) -> None:
        with pytest.raises(ExpertSenderAuthError) as caught:
            run_sensor(sensor(deferrable=True, expertsender_conn_id=bad_key_conn))
        assert not isinstance(caught.value, AirflowFailException)

    @pytest.mark.parametrize("deferrable", [False, True])
    def test_never_fail_skips_an_auth_failure(self, bad_key_conn: str, deferrable: bool) -> None:
        with pytest.raises(AirflowSkipException):
            run_sensor(sensor(deferrable=deferrable, never_fail=True, expertsender_conn_id=bad_key_conn))

    def test_key_revoked_while_deferred_fails_typed(self, emulator: Any) -> None:
        s = sensor(deferrable=True)
        with pytest.raises(TaskDeferred) as deferred:
            s.execute({})  # the customer does not exist yet
        emulator.switches.forbidden_resources = ("customers",)  # the key loses access: 403
        _, kwargs = deferred.value.trigger.serialize()
        event = one_event(deferred.value.trigger.__class__(**kwargs))
        assert (event["status"], event["error"], event["http_status"]) == (
            "error",
            "ExpertSenderAuthError",
            403,
        )
        with pytest.raises(ExpertSenderAuthError):
            s.resume_execution(deferred.value.method_name, {"event": event}, {})

    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            ("ExpertSenderAuthError", ExpertSenderAuthError),
            ("ExpertSenderValidationError", ExpertSenderValidationError),
            ("KeyError", ExpertSenderError),
        ],
    )
    def test_error_event_is_raised_typed(self, error: str, expected: type) -> None:
        event = {"status": "error", "message": "it failed", "error": error, "http_status": 401}
        with pytest.raises(expected, match="it failed") as caught:
            sensor(deferrable=True).execute_complete({}, event)
        assert type(caught.value) is expected


@pytest.mark.usefixtures("expertsender_conn")
@pytest.mark.parametrize("deferrable", [False, True])
def test_logs_hold_no_personal_data(
    deferrable: bool,
    emulator: Any,
    ecdp: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
) -> None:
    emulator.switches.visibility_delay_s = 0.3
    ecdp.customer(firstName="Jane", phone="+48500100200")
    caplog.set_level("INFO")  # Airflow's default level (at DEBUG, urllib3 itself logs request URLs)
    run = run_sensor(sensor(deferrable=deferrable, check=lambda c: c.get("firstName") == "Jane"))
    assert run.result["email"] == EMAIL
    out, err = capsys.readouterr()
    # Airflow 2.10's ExecutorSafeguard warns (with a stack that quotes this test's source) when execute() runs
    # outside a task instance, as here; that warning is the harness's, not the provider's.
    records = [r for r in caplog.records if "cannot be called outside TaskInstance" not in r.getMessage()]
    logs = "\n".join(caplog.handler.format(r) for r in records) + out + err
    assert "by email" in logs  # the sensor did log its progress...
    for value in (EMAIL, "jane.doe%40example.com", "Jane", "+48500100200", emulator.api_key):
        assert value not in logs  # ...but never the identifier, the record or the key


@pytest.fixture(scope="module")
def fresh_import() -> dict[str, Any]:
    """Import the sensor modules in a fresh interpreter with ``[operators] default_deferrable = True``.

    Airflow is imported first: what matters is what the sensor modules add at DAG-parse time.
    """
    code = (
        "import json, sys; from airflow_provider_expertsender import _compat;"
        "_compat.BaseSensorOperator, _compat.PokeReturnValue, _compat.BaseTrigger, _compat.conf;"
        "before = set(sys.modules);"
        "from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor;"
        "import airflow_provider_expertsender.sensors.orders;"
        "added = sorted(set(sys.modules) - before);"
        "deferrable = ExpertSenderCustomerSensor(task_id='t', email='a@b.c').deferrable;"
        "print(json.dumps({'added': added, 'deferrable': deferrable}))"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sensor_modules_import_light(fresh_import: dict[str, Any]) -> None:
    added = fresh_import["added"]
    assert "airflow_provider_expertsender.sensors.customers" in added
    heavy = [m for m in added if m.split(".")[0] in {"aiohttp", "pydantic", "requests", "asgiref"}]
    assert heavy == []
    lazy = ("airflow_provider_expertsender.models", "airflow_provider_expertsender.triggers.expertsender")
    assert [m for m in added if m.startswith(lazy)] == []
