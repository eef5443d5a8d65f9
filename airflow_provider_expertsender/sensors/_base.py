"""What the ExpertSender sensors share: one poke, one deferral protocol, one way to read a trigger's event.

A sensor defines how to fetch its record (sync hook), how to judge it (``conditions.py``, the same
code the trigger uses) and which trigger waits for it in deferrable mode. This module runs the rest:

* ``poke``: not found means "not yet"; errors the hook already retried (5xx, 429, connection) count as a
  failed poke (a warning, then the next poke); anything else (401/403, 400...) fails the task at once, typed.
* ``execute``: poke and reschedule modes are the core sensor's loop, untouched. In deferrable mode the sensor
  pokes once and returns when already done; otherwise it fixes an absolute deadline (now + ``timeout``) and
  defers to its trigger, which honours that deadline however long it waits.
* ``execute_complete``: turns the trigger's event back into a result or a typed exception.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_expertsender._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_expertsender.conditions import TRANSIENT_ERRORS, Verdict
from airflow_provider_expertsender.exceptions import (
    ExpertSenderError,
    ExpertSenderNotFoundError,
    error_from_event,
)
from airflow_provider_expertsender.hooks.expertsender import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_expertsender._compat import BaseTrigger, Context
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

#: Extra time Airflow's own deferral timeout allows on top of the deadline, so that the trigger, which checks
#: the deadline before every poll, normally reports the timeout itself (with its message), even when a request
#: is running at the deadline.
DEFERRAL_GRACE_S = 60.0


class ExpertSenderBaseSensor(BaseSensorOperator):
    """Base of the ExpertSender sensors (see the module docstring for the protocol).

    :param expertsender_conn_id: Airflow connection of the ExpertSender business unit (templated).
    :param deferrable: wait in the triggerer instead of a worker slot. Defaults to the Airflow option
        ``[operators] default_deferrable``.
    """

    template_fields: tuple[str, ...] = ("expertsender_conn_id",)
    ui_color = "#ffe8c2"

    def __init__(
        self,
        *,
        expertsender_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.expertsender_conn_id = expertsender_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> ExpertSenderHook:
        """The sync hook for ``expertsender_conn_id``, created on first use (never at DAG-parse time)."""
        from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

        return ExpertSenderHook(expertsender_conn_id=self.expertsender_conn_id)

    # -- what a sensor defines -------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Check and normalize the (rendered) arguments; runs before any request, on every (re)start."""

    @property
    def _what(self) -> str:
        """What is awaited, mid-sentence (``order 42``, ``the customer (by email)``); never personal data."""
        raise NotImplementedError

    @property
    def _subject(self) -> str:
        """:attr:`_what` at the start of a sentence."""
        return self._what[:1].upper() + self._what[1:]

    def _fetch(self) -> dict[str, Any]:
        """Get the record with the sync hook; raise ``ExpertSenderNotFoundError`` when it does not exist."""
        raise NotImplementedError

    def _judge(self, record: dict[str, Any]) -> Verdict:
        """Whether the record ends the wait (the same rule as the trigger's)."""
        raise NotImplementedError

    def _accept(self, record: dict[str, Any]) -> bool:
        """A last, worker-side condition on a record the trigger found (the customer sensor's ``check``)."""
        return True

    @property
    def _needs_record(self) -> bool:
        """Whether ``_accept`` reads the record (it must then travel in the trigger event)."""
        return False

    def _failure_error(self, message: str, event: dict[str, Any]) -> Exception:
        """The exception for a "failure" verdict (``event`` is its ``details``) or a "failure" event."""
        return ExpertSenderError(message)

    def _trigger(self, *, deadline: float, include_record: bool) -> BaseTrigger:
        """The trigger that waits for this sensor's condition (its first poll one interval from now)."""
        raise NotImplementedError

    # -- poke, reschedule and deferrable modes ---------------------------------------------------------------

    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            record = self._fetch()
        except ExpertSenderNotFoundError:
            self.log.info("%s does not exist yet.", self._subject)
            return False
        except TRANSIENT_ERRORS as err:
            self.log.warning(
                "Poke for %s failed after the hook's retries (%s: %s); trying again at the next poke.",
                self._what,
                type(err).__name__,
                err,
            )
            return False
        verdict = self._judge(record)
        if verdict.state == "failure":
            raise self._failure_error(verdict.message, verdict.details)
        if verdict.state == "waiting":
            self.log.info("%s", verdict.message)
            return False
        if not self._accept(record):
            self.log.info("%s exists; its check is not met yet.", self._subject)
            return False
        self.log.info("%s", verdict.message)
        return PokeReturnValue(is_done=True, xcom_value=record)

    def execute(self, context: Context) -> Any:
        try:
            return self._execute(context)
        finally:
            if "hook" in self.__dict__:  # created by a poke: release its HTTP connections
                self.hook.close()

    def _execute(self, context: Context) -> Any:
        self._prepare()
        if not self.deferrable:
            return super().execute(context)
        # The deadline is absolute from here: a deferral, or deferring again after a failed check, never
        # extends it. (A retry of the task starts a new wait, as in core sensors.)
        deadline = time.time() + self.timeout
        result = self._poke_once(context)
        if result:
            self.log.info("Condition already met; not deferring.")
            return result.xcom_value if isinstance(result, PokeReturnValue) else None
        self._defer(deadline)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the record, defer again, or raise the event's error."""
        try:
            return self._complete(event or {})
        finally:
            if "hook" in self.__dict__:
                self.hook.close()

    def _complete(self, event: dict[str, Any]) -> Any:
        self._prepare()
        status = event.get("status")
        message = str(event.get("message") or f"Waiting for {self._what} ended without a message.")
        if status == "success":
            record = event.get("record")  # None: events carry no personal data (the triggerer logs them)
            if not isinstance(record, dict) and (self._needs_record or self.do_xcom_push):
                try:
                    record = self._fetch()  # here, on the worker
                except ExpertSenderNotFoundError:
                    self.log.info("%s is not visible yet; deferring again.", self._subject)
                    self._defer(float(event.get("deadline", 0.0)))
            if self._accept(record or {}):
                self.log.info("%s", message)
                return record
            self.log.info("%s exists; its check is not met yet, deferring again.", self._subject)
            self._defer(float(event.get("deadline", 0.0)))
        if status == "failure":
            raise self._failure_error(message, event)
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if status == "error":
            raise error_from_event(event.get("error"), message, status=event.get("http_status"))
        raise ExpertSenderError(f"Unexpected trigger event for {self._what} (status {status!r}).")

    def _poke_once(self, context: Context) -> bool | PokeReturnValue:
        """One poke, handling ``soft_fail``, ``never_fail`` and ``silent_fail`` as the core poke loop does."""
        never_fail = getattr(self, "never_fail", False)
        try:
            return self.poke(context)
        except (AirflowSensorTimeout, AirflowFailException) as err:
            if self.soft_fail or never_fail:
                raise AirflowSkipException(f"Skipping ({err}); soft_fail or never_fail is set.") from err
            raise
        except AirflowSkipException:
            raise
        except Exception as err:
            if getattr(self, "silent_fail", False):
                self.log.exception("Poke for %s failed; silent_fail is set, waiting on.", self._what)
                return False
            if never_fail:
                raise AirflowSkipException(f"Skipping ({err}); never_fail is set.") from err
            raise

    def _defer(self, deadline: float) -> NoReturn:
        remaining = deadline - time.time()
        if remaining <= 0:
            message = f"Timed out waiting for {self._what}: the sensor's timeout of {self.timeout} s passed."
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        self.log.info("Deferring: waiting for %s for at most %.0f s more.", self._what, remaining)
        self.defer(
            # The event carries no record: Airflow's triggerer logs every event, and the task log shows it.
            # The task reads the record itself when it resumes.
            trigger=self._trigger(deadline=deadline, include_record=False),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining + DEFERRAL_GRACE_S),
        )
