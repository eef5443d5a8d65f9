"""ExpertSenderOrderSensor against the emulator over real HTTP: poke and deferrable modes.

Reschedule mode and full DAG runs (``dag.test()``, trigger inline) are in ``test_dags.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderOrderStateError,
)
from airflow_provider_expertsender.sensors.orders import ExpertSenderOrderSensor
from tests.sensors.ecdp_data import request_counter
from tests.sensors.runner import AirflowFailException, AirflowSensorTimeout, AirflowSkipException, run_sensor

FAST = 0.05


def sensor(**kwargs: Any) -> ExpertSenderOrderSensor:
    kwargs.setdefault("task_id", "wait_for_order")
    kwargs.setdefault("order_id", "ORD-1")
    kwargs.setdefault("poke_interval", FAST)
    kwargs.setdefault("timeout", 20)
    return ExpertSenderOrderSensor(**kwargs)


@pytest.fixture(params=["poke", "deferrable"])
def mode(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run the test in poke mode and in deferrable mode: both must behave the same."""
    return {"deferrable": request.param == "deferrable"}


class TestArguments:
    def test_needs_an_order_id(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="order_id"):
            ExpertSenderOrderSensor(task_id="t", order_id="")

    def test_statuses_must_be_strings(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="target_statuses"):
            sensor(target_statuses=[1])

    def test_a_single_status_string_is_accepted(self) -> None:
        assert sensor(target_statuses="paid").target_statuses == ["paid"]

    def test_order_id_is_templated(self) -> None:
        assert "order_id" in ExpertSenderOrderSensor.template_fields

    @pytest.mark.parametrize(
        ("targets", "failures", "match"),
        [(["shipped"], None, "shipped"), (["paid"], ["Paid"], "share paid")],
    )
    def test_bad_statuses_fail_before_any_request(
        self, store: Any, expertsender_conn: str, targets: Any, failures: Any, match: str
    ) -> None:
        requests = request_counter(store)
        with pytest.raises(ExpertSenderConfigError, match=match):
            run_sensor(sensor(target_statuses=targets, failure_statuses=failures))
        assert requests() == 0


@pytest.mark.usefixtures("expertsender_conn")
class TestBothModes:
    def test_order_reaching_paid(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "paid")
        order = run_sensor(sensor(target_statuses=["paid", "completed"], **mode)).result
        assert (order["id"], order["status"]) == ("ORD-1", "paid")

    @pytest.mark.parametrize("style", ["404", "200_null"])
    def test_order_appearing(self, emulator: Any, ecdp: Any, mode: dict[str, Any], style: str) -> None:
        emulator.switches.not_found_style = style
        ecdp.after_gets(1, ecdp.order, "ORD-1", status=None)
        order = run_sensor(sensor(**mode)).result
        assert order["id"] == "ORD-1"

    def test_templated_order_id(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-7", status="paid")
        order = run_sensor(sensor(order_id="ORD-{{ params.n }}", **mode), {"params": {"n": 7}}).result
        assert order["id"] == "ORD-7"

    def test_canceled_fails_fast_without_retries(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "canceled")
        started = time.monotonic()
        with pytest.raises(ExpertSenderOrderStateError, match="canceled") as caught:
            run_sensor(sensor(target_statuses=["paid"], timeout=60, **mode))
        assert time.monotonic() - started < 15  # not the 60 s timeout
        assert isinstance(caught.value, AirflowFailException)  # Airflow does not retry it
        assert (caught.value.order_id, caught.value.order_status) == ("ORD-1", "canceled")

    def test_canceled_with_soft_fail_skips(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="canceled")
        with pytest.raises(AirflowSkipException):
            run_sensor(sensor(target_statuses=["paid"], soft_fail=True, **mode))

    def test_deleted_fails_fast(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.delete, "ORD-1")
        with pytest.raises(ExpertSenderOrderStateError, match="deleted") as caught:
            run_sensor(sensor(target_statuses=["paid"], **mode))
        assert caught.value.deleted is True

    def test_canceled_as_the_target(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "canceled")
        order = run_sensor(sensor(target_statuses=["Cancelled"], **mode)).result
        assert order["status"] == "canceled"

    def test_custom_failure_statuses(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="canceled")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "completed")
        # failure_statuses=[] : a canceled order may still complete; keep waiting.
        order = run_sensor(sensor(target_statuses=["completed"], failure_statuses=[], **mode)).result
        assert order["status"] == "completed"

    def test_timeout(self, ecdp: Any, mode: dict[str, Any]) -> None:
        ecdp.order("ORD-1", status="placed")
        with pytest.raises(AirflowSensorTimeout):
            run_sensor(sensor(target_statuses=["paid"], timeout=0.4, **mode))

    def test_auth_failure_fails_at_once(self, bad_key_conn: str, mode: dict[str, Any]) -> None:
        with pytest.raises(ExpertSenderAuthError):
            run_sensor(sensor(expertsender_conn_id=bad_key_conn, **mode))


@pytest.mark.usefixtures("expertsender_conn")
class TestDeferrable:
    def test_trigger_carries_the_resolved_statuses(self, emulator: Any, ecdp: Any) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "paid")
        run = run_sensor(sensor(target_statuses=["PAID"], deferrable=True))
        kwargs = run.deferrals[0].kwargs
        assert (kwargs["target_statuses"], kwargs["failure_statuses"]) == (["paid"], ["canceled"])
        assert emulator.api_key not in str(kwargs)
        assert run.result["status"] == "paid"
