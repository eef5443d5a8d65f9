"""Polling triggers behind the deferrable ExpertSender sensors.

A trigger runs in the triggerer (or inline under ``dag.test()``), polls ECDP with
:class:`~airflow_provider_expertsender.hooks.expertsender.ExpertSenderAsyncHook` and yields exactly one event,
then returns. Events are small JSON dicts:

``{"status": "success", "message": ..., "record": None, "deadline": ...}``
    the customer exists / the order reached a target status. ``record`` is None: events carry no personal
    data (the triggerer logs them); the task reads the record when it resumes.
``{"status": "failure", "message": ..., **details}``
    the wait can never succeed; ``details`` are the verdict's facts (for an order: ``order_status`` and
    ``deleted``, the order reached a failure status or was deleted).
``{"status": "timeout", "message": ...}``
    the absolute ``deadline`` (POSIX seconds) passed before the condition was met.
``{"status": "error", "message": ..., "error": <exception class name>, "http_status": ...}``
    anything else went wrong (a rejected API key, a 400, a bug); the sensor raises it again, typed.

``serialize()`` holds only the connection id, the identifier, the statuses, the poll interval, the deadline
and two flags: never the API key (the hook reads the connection in the triggerer) and never a callable.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender._compat import BaseTrigger, TriggerEvent
from airflow_provider_expertsender.conditions import (
    TRANSIENT_ERRORS,
    Verdict,
    judge_order,
    order_statuses,
)
from airflow_provider_expertsender.exceptions import ExpertSenderError, ExpertSenderNotFoundError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook

_MODULE = __name__


class _ExpertSenderPollingTrigger(BaseTrigger):
    """The polling loop shared by the ExpertSender triggers.

    :param expertsender_conn_id: Airflow connection of the business unit.
    :param poll_interval: seconds between two polls.
    :param deadline: absolute end of the wait, POSIX seconds (``time.time()`` clock). Checked before every
        poll, so a deferred sensor honours its ``timeout`` however long it was deferred.
    :param include_record: put the record in the success event. The sensors never ask for it: Airflow's
        triggerer logs every event (the task's trigger log, which the UI serves) and stores it until the task
        resumes, so the task reads the record itself on the worker. Kept for triggers serialized by older
        versions.
    :param delay_first_poll: wait one ``poll_interval`` before the first poll (the sensor has just polled).
    """

    def __init__(
        self,
        *,
        expertsender_conn_id: str,
        poll_interval: float,
        deadline: float,
        include_record: bool = False,
        delay_first_poll: bool = False,
    ) -> None:
        super().__init__()
        self.expertsender_conn_id = expertsender_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline)
        self.include_record = include_record
        self.delay_first_poll = delay_first_poll
        self._secrets: Sequence[str] = ()

    def _common_kwargs(self) -> dict[str, Any]:
        return {
            "expertsender_conn_id": self.expertsender_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "include_record": self.include_record,
            "delay_first_poll": self.delay_first_poll,
        }

    def _prepare(self) -> None:
        """Validate and normalize arguments (inside ``run()``, so a problem becomes an error event)."""

    @abstractmethod
    async def _fetch(self, hook: ExpertSenderAsyncHook) -> dict[str, Any]:
        """Get the record; raise ``ExpertSenderNotFoundError`` when it does not exist (yet)."""

    @abstractmethod
    def _judge(self, record: dict[str, Any]) -> Verdict:
        """Whether the record ends the wait (``conditions.py``, as the sensor's poke)."""

    @property
    @abstractmethod
    def _what(self) -> str:
        """What is awaited, for messages: an order id or a customer identifier's kind (no personal data)."""

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until success, failure, the deadline or an error; yield exactly one event, then return."""
        try:
            event = await self._wait()
        except Exception as err:  # every failure becomes an event: the task, not the triggerer, reports it
            from airflow_provider_expertsender.hooks.expertsender import scrub

            self.log.warning("Waiting for %s failed: %s", self._what, type(err).__name__)
            event = {
                "status": "error",
                # Airflow stores and logs the event: no API key, however the error came to quote it.
                "message": scrub(
                    f"Waiting for {self._what} failed: {type(err).__name__}: {err}", self._secrets
                ),
                "error": type(err).__name__,
                "http_status": status if isinstance(status := getattr(err, "status", None), int) else None,
            }
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        self._prepare()
        from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook

        if self.delay_first_poll:
            await self._sleep()
        # One HTTP session for all the polls of this wait, opened once the first one is due; the connection
        # is read without blocking the event loop.
        async with ExpertSenderAsyncHook(expertsender_conn_id=self.expertsender_conn_id) as hook:
            self._secrets = (await hook.get_config()).secrets
            return await self._poll_until_done(hook)

    async def _poll_until_done(self, hook: ExpertSenderAsyncHook) -> dict[str, Any]:
        polls = 0
        while True:
            if time.time() >= self.deadline:
                return self._timeout_event(polls)
            polls += 1
            try:
                # A poll ends at the deadline whatever the server does (the hook's own budget may be longer).
                record = await asyncio.wait_for(self._fetch(hook), timeout=self.deadline - time.time())
            except asyncio.TimeoutError:
                return self._timeout_event(polls)
            except ExpertSenderNotFoundError:
                self.log.info(
                    "Poll %d: %s does not exist yet; next poll in %.1f s",
                    polls,
                    self._what,
                    self.poll_interval,
                )
            except TRANSIENT_ERRORS as err:
                self.log.warning(
                    "Poll %d for %s failed after the hook's retries (%s: %s); trying again in %.1f s",
                    polls,
                    self._what,
                    type(err).__name__,
                    err,
                    self.poll_interval,
                )
            else:
                verdict = self._judge(record)
                if verdict.state == "success":
                    self.log.info("%s", verdict.message)
                    return {
                        "status": "success",
                        "message": verdict.message,
                        "record": record if self.include_record else None,
                        "deadline": self.deadline,
                    }
                if verdict.state == "failure":
                    self.log.info("%s", verdict.message)
                    return {"status": "failure", "message": verdict.message, **verdict.details}
                self.log.info("%s (poll %d)", verdict.message, polls)
            await self._sleep()

    async def _sleep(self) -> None:
        """Sleep one poll interval, or less when the deadline comes first."""
        await asyncio.sleep(max(0.0, min(self.poll_interval, self.deadline - time.time())))

    def _timeout_event(self, polls: int) -> dict[str, Any]:
        message = f"Timed out waiting for {self._what}: the deadline passed after {polls} poll(s)."
        self.log.info("%s", message)
        return {"status": "timeout", "message": message}


class ExpertSenderCustomerTrigger(_ExpertSenderPollingTrigger):
    """Wait until a customer exists in ExpertSender.

    Used by ``ExpertSenderCustomerSensor(deferrable=True)``. A ``check`` callable cannot travel to the
    triggerer: the sensor applies it when the task resumes (and defers again when it is not met).

    :param identifier: which identifier ``value`` is: ``customer_id``, ``email``, ``phone`` or ``crm_id``.
    :param value: the identifier's value.
    """

    def __init__(self, *, identifier: str, value: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.identifier = identifier
        self.value = value

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_MODULE}.ExpertSenderCustomerTrigger",
            {"identifier": self.identifier, "value": self.value, **self._common_kwargs()},
        )

    @property
    def _what(self) -> str:
        return f"the customer (by {self.identifier})"

    def _prepare(self) -> None:
        from airflow_provider_expertsender.endpoints import CUSTOMER_LOOKUPS

        if self.identifier not in CUSTOMER_LOOKUPS:
            raise ExpertSenderError(
                f"Unknown customer identifier {self.identifier!r}; use one of {', '.join(CUSTOMER_LOOKUPS)}."
            )

    async def _fetch(self, hook: ExpertSenderAsyncHook) -> dict[str, Any]:
        return await hook.get_customer(**{self.identifier: self.value})

    def _judge(self, record: dict[str, Any]) -> Verdict:
        return Verdict("success", f"Found the customer (by {self.identifier}).")


class ExpertSenderOrderTrigger(_ExpertSenderPollingTrigger):
    """Wait until an order exists and, if ``target_statuses`` is given, has one of them.

    Used by ``ExpertSenderOrderSensor(deferrable=True)``. Statuses are compared case-insensitively, in
    documented spelling (``"Cancelled"`` is ``"canceled"``).

    :param order_id: the order's id.
    :param target_statuses: statuses that end the wait successfully; ``None``: any status.
    :param failure_statuses: statuses that end the wait with a failure (a deleted order always does).
        ``None``: ``canceled`` unless it is a target.
    """

    def __init__(
        self,
        *,
        order_id: str,
        target_statuses: list[str] | None = None,
        failure_statuses: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.order_id = order_id
        self.target_statuses = None if target_statuses is None else list(target_statuses)
        self.failure_statuses = None if failure_statuses is None else list(failure_statuses)
        self._targets: tuple[str, ...] | None = None
        self._failures: tuple[str, ...] = ()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_MODULE}.ExpertSenderOrderTrigger",
            {
                "order_id": self.order_id,
                "target_statuses": self.target_statuses,
                "failure_statuses": self.failure_statuses,
                **self._common_kwargs(),
            },
        )

    @property
    def _what(self) -> str:
        return f"order {self.order_id}"

    def _prepare(self) -> None:
        self._targets, self._failures = order_statuses(self.target_statuses, self.failure_statuses)

    async def _fetch(self, hook: ExpertSenderAsyncHook) -> dict[str, Any]:
        return await hook.get_order(self.order_id)

    def _judge(self, record: dict[str, Any]) -> Verdict:
        return judge_order(
            record, order_id=self.order_id, target_statuses=self._targets, failure_statuses=self._failures
        )
