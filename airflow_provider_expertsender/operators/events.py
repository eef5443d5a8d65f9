"""Scenario custom events: fire an event for one customer (``POST /scenariocustomevents``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import (
    check_identifiers_early,
    is_dynamic,
    one_identifier,
    require,
)
from airflow_provider_expertsender.endpoints import CUSTOM_EVENT_IDENTIFIERS
from airflow_provider_expertsender.exceptions import ExpertSenderError
from airflow_provider_expertsender.operators._base import ExpertSenderBaseOperator, no_task_retry

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

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
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    template_fields: tuple[str, ...] = (
        "custom_event_id",
        *EVENT_IDENTIFIERS,
        "data_fields",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.custom_event_id = custom_event_id
        self.customer_id = customer_id
        self.email = email
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
        return {name: getattr(self, name) for name in EVENT_IDENTIFIERS}

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
            raise
        self.log.info("Fired custom event %s for the customer with that %s.", event_id, kind)
        return {"custom_event_id": event_id, "identifier": kind, "data_fields": len(data_fields)}
