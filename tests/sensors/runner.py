"""Run a sensor as a worker (and, in deferrable mode, a triggerer) would, without a DAG run.

``run_sensor`` renders the templates and calls ``execute()``; on ``TaskDeferred`` it rebuilds the trigger from
its serialized form, runs it with asyncio (exactly one event expected) and resumes the task through
``resume_execution`` with that event, as Airflow does, until the task returns or raises. Reschedule mode needs
a task instance: it is covered by the DAG tests.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from dataclasses import dataclass, field
from typing import Any

try:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 2
    from airflow.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
    "one_event",
    "run_sensor",
]


@dataclass
class Deferral:
    """One deferral: the trigger's serialized form, Airflow's timeout and the event it produced."""

    classpath: str
    kwargs: dict[str, Any]
    timeout_s: float | None
    event: dict[str, Any] = field(default_factory=dict)


@dataclass
class SensorRun:
    result: Any
    deferrals: list[Deferral]


def one_event(trigger: Any) -> dict[str, Any]:
    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1, f"a trigger yields exactly one event, got {len(events)}"
    return events[0].payload


def run_sensor(sensor: Any, context: dict[str, Any] | None = None, *, max_deferrals: int = 20) -> SensorRun:
    """Render ``sensor``'s templates with ``context`` and run it to the end; exceptions propagate."""
    context = {"params": {}, **(context or {})}
    sensor.render_template_fields(context)
    deferrals: list[Deferral] = []
    try:
        return SensorRun(sensor.execute(context), deferrals)
    except TaskDeferred as deferred:
        pending: TaskDeferred | None = deferred
    while pending is not None:
        assert len(deferrals) < max_deferrals, "the sensor keeps deferring"
        classpath, kwargs = pending.trigger.serialize()
        json.dumps(kwargs)
        record = Deferral(
            classpath, kwargs, pending.timeout.total_seconds() if pending.timeout is not None else None
        )
        deferrals.append(record)
        # Rebuild the trigger from its serialized form, as the triggerer does.
        module, _, name = classpath.rpartition(".")
        trigger = getattr(importlib.import_module(module), name)(**kwargs)
        record.event = one_event(trigger)
        next_kwargs = {**(pending.kwargs or {}), "event": record.event}
        try:
            return SensorRun(sensor.resume_execution(pending.method_name, next_kwargs, context), deferrals)
        except TaskDeferred as again:
            pending = again
    raise AssertionError("unreachable")
