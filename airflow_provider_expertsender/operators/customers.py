"""Customers: upsert in bulk, get one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import (
    check_identifiers_early,
    customer_email,
    identifier_attribute,
    one_identifier,
)
from airflow_provider_expertsender.endpoints import CUSTOMER_LOOKUPS
from airflow_provider_expertsender.exceptions import ExpertSenderNotFoundError
from airflow_provider_expertsender.operators._base import ExpertSenderBaseOperator
from airflow_provider_expertsender.operators._write import ExpertSenderBulkWriteOperator

if TYPE_CHECKING:
    from airflow_provider_expertsender._compat import Context

#: The identifiers a customer can be fetched by, in the order shown in messages.
CUSTOMER_IDENTIFIERS = tuple(CUSTOMER_LOOKUPS)


class ExpertSenderUpsertCustomersOperator(ExpertSenderBulkWriteOperator):
    """Add or update customers (``POST /customers``) from a list, a file or a SQL query, in batches.

    Customers are validated before anything is sent; see :class:`ExpertSenderBulkWriteOperator` for the inputs
    (``source_path``, ``sql``...), batching and the handling of invalid records. The XCom value is the write
    summary (``read``, ``sent``, ``accepted``, ``rejected``...).

    :param customers: the customers, as dicts in snake_case or the API's camelCase (templated, rendered as
        JSON).
    :param mode: ``"Add"``, ``"Update"`` or ``"AddOrUpdate"`` (default; safe to repeat) (templated).
    :param match_by: the field that identifies an existing customer: ``"Email"`` (default), ``"PhoneNumber"``,
        ``"CrmId"``, ``"GUID"`` or ``"VisitorId"`` (templated).
    """

    resource = "customers"
    records_param = "customers"
    template_fields: tuple[str, ...] = (*ExpertSenderBulkWriteOperator.template_fields, "mode", "match_by")

    def __init__(
        self, *, customers: Any = None, mode: str = "AddOrUpdate", match_by: str = "Email", **kwargs: Any
    ) -> None:
        super().__init__(records=customers, mode=mode, match_by=match_by, **kwargs)


class ExpertSenderGetCustomerOperator(ExpertSenderBaseOperator):
    """Fetch one customer by exactly one identifier and return it.

    Passing none or several of ``customer_id``, ``email``, ``phone`` and ``crm_id`` is an error raised before
    any request (when the DAG is parsed if the values are literal). ``None`` and blank strings count as not
    given, so two templated identifiers of which one renders empty are fine.

    The XCom value is the customer as the API returns it (a dict). A customer that does not exist fails
    the task with :class:`~airflow_provider_expertsender.exceptions.ExpertSenderNotFoundError`, unless
    ``missing_ok=True``: then the task succeeds and returns ``None``.

    :param customer_id: the customer's ExpertSender id (templated).
    :param email: the customer's e-mail address (templated).
    :param phone: the customer's phone number (templated).
    :param crm_id: the customer's CRM id (templated).
    :param missing_ok: return ``None`` instead of failing when the customer does not exist.
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    template_fields: tuple[str, ...] = (
        *map(identifier_attribute, CUSTOMER_IDENTIFIERS),
        "expertsender_conn_id",
    )

    def __init__(
        self,
        *,
        customer_id: int | str | None = None,
        email: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        email = customer_email(email, kwargs)  # not default_args' alert addresses
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.customer_email = email  # not self.email: Airflow's alert addresses
        self.phone = phone
        self.crm_id = crm_id
        self.missing_ok = missing_ok
        check_identifiers_early(self._identifiers(), what=type(self).__name__)

    def _identifiers(self) -> dict[str, Any]:
        return {name: getattr(self, identifier_attribute(name)) for name in CUSTOMER_IDENTIFIERS}

    def execute(self, context: Context) -> dict[str, Any] | None:
        kind, value = one_identifier(self._identifiers(), what=type(self).__name__)
        try:
            customer = self.hook.get_customer(**{kind: value})
        except ExpertSenderNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("No customer with that %s; missing_ok=True, returning None.", kind)
            return None
        self.log.info("Fetched the customer by %s.", kind)
        return customer
