"""Scenario custom events: fire an event for one customer (``POST /scenariocustomevents``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import (
    check_identifiers_early,
    customer_email,
    identifier_attribute,
    is_dynamic,
    is_given,
    one_identifier,
    require,
)
from airflow_provider_expertsender.endpoints import CUSTOM_EVENT_IDENTIFIERS
from airflow_provider_expertsender.exceptions import ExpertSenderError
from airflow_provider_expertsender.operators._base import ExpertSenderBaseOperator, no_task_retry
from airflow_provider_expertsender.operators._write import ExpertSenderBulkWriteOperator

if TYPE_CHECKING:
    from airflow_provider_expertsender._compat import Context
    from airflow_provider_expertsender.sync.checkpoint import Checkpoint

#: The customer identifiers a custom event accepts, in the order shown in messages.
EVENT_IDENTIFIERS = tuple(CUSTOM_EVENT_IDENTIFIERS)


class ExpertSenderSendCustomEventOperator(ExpertSenderBaseOperator):
    """Fire a scenario custom event for one customer, named by exactly one identifier.

    ``data_fields`` carries values for the scenario's message, either in the API's shape,
    ``[{"name": "coupon", "type": "String", "value": "X-12"}]``, or as a plain dict whose Python values
    give the types (see :func:`~airflow_provider_expertsender.models.data_fields_payload`).

    Everything is validated before the request; when every argument is written literally in the DAG,
    already when the DAG is parsed. The XCom value is
    ``{"custom_event_id": 12, "identifier": "email", "data_fields": 2}``: which kind of identifier was
    used, never its value.

    A custom event is not idempotent: each request fires it. When the request may have reached
    ExpertSender but no answer came back (read timeout, connection dropped, 5xx), the task fails
    *without* its Airflow retries, so the customer cannot get the event twice. Pass ``retry_unsafe=True``
    to retry such failures anyway (in the hook and as task retries) when a duplicate is less harmful
    than a missing event.

    :param custom_event_id: id of the custom event (Automation -> Scenarios -> Custom events) (templated).
    :param customer_id: the customer's ExpertSender id (templated).
    :param email: the customer's e-mail address (templated).
    :param email_md5: hex MD5 of the e-mail address (templated).
    :param email_sha256: hex SHA-256 of the e-mail address (templated).
    :param phone: the customer's phone number (templated).
    :param crm_id: the customer's CRM id (templated).
    :param data_fields: list of ``{name, type, value}`` or a dict of name -> value (templated, shown as
        JSON).
    :param retry_unsafe: repeat the request after failures where it may already have been applied.
    :param checkpoint_path: folder every worker reaches (shared volume, object-storage URI) where the event
        is journalled before it is sent; default: a folder on the worker (see docs/bulk-sync.md, resumable
        runs) (templated).
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    template_fields: tuple[str, ...] = (
        "custom_event_id",
        *map(identifier_attribute, EVENT_IDENTIFIERS),
        "data_fields",
        "checkpoint_path",
        "expertsender_conn_id",
    )
    template_fields_renderers = {"data_fields": "json"}

    def __init__(
        self,
        *,
        custom_event_id: int | str,
        customer_id: int | str | None = None,
        email: str | None = None,
        email_md5: str | None = None,
        email_sha256: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
        data_fields: list[dict[str, Any]] | dict[str, Any] | None = None,
        retry_unsafe: bool = False,
        checkpoint_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        email = customer_email(email, kwargs)  # not default_args' alert addresses
        super().__init__(**kwargs)
        self.checkpoint_path = checkpoint_path
        self.custom_event_id = custom_event_id
        self.customer_id = customer_id
        self.customer_email = email  # not self.email: Airflow's alert addresses
        self.email_md5 = email_md5
        self.email_sha256 = email_sha256
        self.phone = phone
        self.crm_id = crm_id
        self.data_fields = data_fields
        self.retry_unsafe = retry_unsafe
        check_identifiers_early(self._identifiers(), what=type(self).__name__)
        if not is_dynamic([custom_event_id, data_fields, *self._identifiers().values()]):
            self._payload()

    def _identifiers(self) -> dict[str, Any]:
        return {name: getattr(self, identifier_attribute(name)) for name in EVENT_IDENTIFIERS}

    def _payload(self) -> tuple[str, Any, dict[str, Any]]:
        """Validate every argument; return the identifier's name, its API value and the request body."""
        from airflow_provider_expertsender.models import custom_event_payload

        what = type(self).__name__
        require("custom_event_id", self.custom_event_id, what=what)
        kind, value = one_identifier(self._identifiers(), what=what)
        payload = custom_event_payload(self.custom_event_id, **{kind: value}, data_fields=self.data_fields)
        # The identifier as the model normalized it (hex digests lower-cased, customer id as a number).
        return kind, payload[CUSTOM_EVENT_IDENTIFIERS[kind]], payload

    def execute(self, context: Context) -> dict[str, Any]:
        kind, value, payload = self._payload()
        event_id = payload["customEventId"]
        data_fields = payload.get("dataFields") or []
        result = {"custom_event_id": event_id, "identifier": kind, "data_fields": len(data_fields)}
        checkpoint = self._checkpoint(context)
        if checkpoint is not None:
            from airflow_provider_expertsender.sync.ledger import IN_DOUBT

            verdict = checkpoint.admit(None, payload)
            if verdict == IN_DOUBT:
                raise no_task_retry(
                    f"Custom event {event_id} was sent by an earlier try of this task, which ended (timeout, "
                    "SIGTERM, lost worker) before ExpertSender answered: it may have been fired. Not sending "
                    "it again, so the customer does not get it twice. Check the scenario; if the event did "
                    f"not arrive, delete the checkpoint folder {checkpoint} and clear the task, or pass "
                    "retry_unsafe=True if a duplicate is acceptable."
                )
            if verdict is not None:
                self.log.info(
                    "Custom event %s was fired by an earlier try of this task; not again.", event_id
                )
                checkpoint.close(complete=True)
                return result
            checkpoint.sending([payload])
        try:
            self.hook.send_custom_event(
                event_id,
                **{kind: value},
                data_fields=data_fields or None,
                retry_unsafe=self.retry_unsafe,
                validate=False,  # validated by _payload() above
            )
        except ExpertSenderError as err:
            if err.maybe_applied and not self.retry_unsafe:
                raise no_task_retry(
                    f"Custom event {event_id} may have been fired although the request failed "
                    f"({err.message}). Not retrying the task, so the customer does not get it twice; "
                    "check the scenario, and pass retry_unsafe=True if a duplicate is acceptable."
                ) from err
            if checkpoint is not None:
                checkpoint.close(complete=False)
            raise
        if checkpoint is not None:
            checkpoint.confirmed([None], [payload])
            checkpoint.close(complete=True)
        self.log.info("Fired custom event %s for the customer with that %s.", event_id, kind)
        return result

    def _checkpoint(self, context: Context) -> Checkpoint | None:
        """The task's checkpoint: the event is journalled before the request, so a later try of the task
        (after a timeout, a SIGTERM or a lost worker) knows it may have been fired. None outside a task run
        and with ``retry_unsafe``."""
        from airflow_provider_expertsender.sync.checkpoint import Checkpoint, TaskTry, task_location

        task = TaskTry.from_context(context)
        if task is None or self.retry_unsafe:
            return None
        location = self.checkpoint_path if is_given(self.checkpoint_path) else None
        return Checkpoint(
            task_location(task, location),
            attempt=task.try_number,
            intents=True,
            shared=location is not None,
            logger=self.log,
        )


class ExpertSenderSendCustomEventsOperator(ExpertSenderBulkWriteOperator):
    """Fire a scenario custom event for many customers (``POST /scenariocustomevents``, one request per
    event), from a list, a file or a SQL query.

    Each row names its customer by exactly one identifier (``email``, ``customer_id``, ``crm_id``, ``phone``,
    ``email_md5``, ``email_sha256``; snake_case or the API's ``customerEmail``...) and may carry data fields
    as a ``data_fields`` dict or list (a JSON string column is fine) or as ``data_<name>`` columns, and its
    own ``custom_event_id``. Events are validated before anything is sent and go out ``max_concurrency`` at a
    time over one session.

    A custom event is not idempotent. An event whose request may have reached ExpertSender without an answer
    (read timeout, dropped connection, 5xx) is *in doubt*: dead-lettered with stage ``in_doubt``, counted in
    ``in_doubt`` (which counts against ``max_rejected``), and never sent again: not by the hook, and not by a
    task retry, which resumes from the write's checkpoint (``checkpoint_path``; see docs/bulk-sync.md) and
    skips what earlier tries confirmed. ``retry_unsafe=True`` accepts duplicates instead. See
    :class:`~airflow_provider_expertsender.operators._write.ExpertSenderBulkWriteOperator` for the inputs and
    the other options; the XCom value is the write summary.

    :param custom_event_id: id of the custom event for the rows without their own ``custom_event_id``
        (templated).
    :param events: the events, as dicts (templated, rendered as JSON).
    """

    resource = "custom_events"
    records_param = "events"
    template_fields: tuple[str, ...] = (*ExpertSenderBulkWriteOperator.template_fields, "custom_event_id")

    def __init__(
        self, *, custom_event_id: int | str | None = None, events: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(records=events, **kwargs)
        self.custom_event_id = custom_event_id

    def _write_arguments(self) -> dict[str, Any]:
        return {"custom_event_id": self.custom_event_id if is_given(self.custom_event_id) else None}
