"""``ExpertSenderCustomerSensor``: wait until a customer exists (and meets an optional check)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import (
    check_identifiers_early,
    customer_email,
    identifier_attribute,
    one_identifier,
)
from airflow_provider_expertsender.conditions import Verdict
from airflow_provider_expertsender.endpoints import CUSTOMER_LOOKUPS
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.sensors._base import ExpertSenderBaseSensor

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_expertsender._compat import BaseTrigger

_WHAT = "ExpertSenderCustomerSensor"


class ExpertSenderCustomerSensor(ExpertSenderBaseSensor):
    """Wait until a customer is visible in ExpertSender, e.g. after a write ECDP processes asynchronously.

    Done when the customer exists and, if ``check`` is given, ``check(customer)`` is true. The customer (the
    API's JSON object, personal data) is the task's return value and so goes to XCom; pass
    ``do_xcom_push=False`` when downstream tasks do not need it.

    Modes: ``poke`` and ``reschedule`` as in every sensor (``poke_interval``, ``timeout``, ``soft_fail``,
    ``exponential_backoff``), or ``deferrable=True``: one poke, then the wait moves to the triggerer. A
    ``check`` callable cannot travel to the triggerer: the trigger waits until the customer exists, the task
    resumes and applies ``check``, and when it is not met yet the sensor defers again, its first poll one
    ``poke_interval`` later, within the same absolute ``timeout``. Each unmet check thus costs a short worker
    run; for checks that stay false for long, prefer a longer ``poke_interval`` or ``mode="reschedule"``.

    :param customer_id: ExpertSender's internal customer id (templated).
    :param email: the customer's e-mail address (templated).
    :param phone: the customer's phone number (templated).
    :param crm_id: the customer's id in your CRM (templated).
    :param check: optional ``check(customer: dict) -> bool``; the wait ends only when it returns true (e.g. a
        consent is granted, an attribute has a value). It runs on the worker, never in the triggerer.
    :param expertsender_conn_id: Airflow connection of the ExpertSender business unit (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.

    Exactly one of ``customer_id``, ``email``, ``phone`` and ``crm_id`` is required.
    """

    template_fields: tuple[str, ...] = ("expertsender_conn_id", *map(identifier_attribute, CUSTOMER_LOOKUPS))

    def __init__(
        self,
        *,
        customer_id: int | str | None = None,
        email: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
        check: Callable[[dict[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        email = customer_email(email, kwargs)  # not default_args' alert addresses
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.customer_email = email  # not self.email: Airflow's alert addresses
        self.phone = phone
        self.crm_id = crm_id
        if check is not None and not callable(check):
            raise ExpertSenderConfigError(
                f"{_WHAT}: check must be a callable taking the customer dict and returning a bool; "
                f"got {type(check).__name__}."
            )
        self.check = check
        check_identifiers_early(self._identifiers(), what=_WHAT)

    def _identifiers(self) -> dict[str, Any]:
        return {name: getattr(self, identifier_attribute(name)) for name in CUSTOMER_LOOKUPS}

    def _prepare(self) -> None:
        self._lookup = one_identifier(self._identifiers(), what=_WHAT)

    @property
    def _what(self) -> str:
        # The identifier's kind only: its value (an e-mail address, a phone number) is personal data.
        return f"the customer (by {self._lookup[0]})"

    def _fetch(self) -> dict[str, Any]:
        kind, value = self._lookup
        return self.hook.get_customer(**{kind: value})

    def _judge(self, record: dict[str, Any]) -> Verdict:
        return Verdict("success", f"Found the customer (by {self._lookup[0]}).")

    def _accept(self, record: dict[str, Any]) -> bool:
        return self.check is None or bool(self.check(record))

    @property
    def _needs_record(self) -> bool:
        return self.check is not None

    def _trigger(self, *, deadline: float, include_record: bool) -> BaseTrigger:
        from airflow_provider_expertsender.triggers.expertsender import ExpertSenderCustomerTrigger

        kind, value = self._lookup
        return ExpertSenderCustomerTrigger(
            identifier=kind,
            value=value,
            expertsender_conn_id=self.expertsender_conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            include_record=include_record,
            delay_first_poll=True,
        )
