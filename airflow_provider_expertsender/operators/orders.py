"""Orders: register in bulk, get one, change its status, delete it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import is_dynamic, require
from airflow_provider_expertsender.exceptions import ExpertSenderNotFoundError
from airflow_provider_expertsender.operators._base import ExpertSenderBaseOperator
from airflow_provider_expertsender.operators._write import ExpertSenderBulkWriteOperator

if TYPE_CHECKING:
    from airflow_provider_expertsender._compat import Context


class ExpertSenderRegisterOrdersOperator(ExpertSenderBulkWriteOperator):
    """Register orders (``POST /orders``) from a list, a file or a SQL query, in batches.

    Orders are validated before anything is sent; see :class:`ExpertSenderBulkWriteOperator` for the inputs
    (``source_path``, ``sql``...), batching and the handling of invalid records. The XCom value is the write
    summary (``read``, ``sent``, ``accepted``, ``rejected``...).

    :param orders: the orders, as dicts in snake_case or the API's camelCase (templated, rendered as JSON).
    :param mode: ``"Add"``, ``"AddOrReplace"`` (default; safe to repeat) or ``"Replace"`` (templated).
    """

    resource = "orders"
    records_param = "orders"
    template_fields: tuple[str, ...] = (*ExpertSenderBulkWriteOperator.template_fields, "mode")

    def __init__(self, *, orders: Any = None, mode: str = "AddOrReplace", **kwargs: Any) -> None:
        super().__init__(records=orders, mode=mode, **kwargs)


class ExpertSenderUpdateOrderStatusesOperator(ExpertSenderBulkWriteOperator):
    """Change the status of many orders (``PUT /orders/status``, one request per order), from a list, a file
    or a SQL query.

    Each row is ``{order_id, status, website_id?}`` (snake_case or the API's ``orderId`` / ``orderStatus`` /
    ``websiteId``); the status in any case (``placed``, ``paid``, ``completed``, ``canceled``). Changes are
    validated before anything is sent and go out ``max_concurrency`` at a time; two changes of one order keep
    their input order. Setting a status is idempotent, so the hook retries failed requests; an unknown order
    is a rejected record (``max_rejected``, dead letters). See :class:`ExpertSenderBulkWriteOperator` for the
    inputs and options; the XCom value is the write summary.

    :param changes: the status changes, as dicts (templated, rendered as JSON).
    """

    resource = "order_statuses"
    records_param = "changes"

    def __init__(self, *, changes: Any = None, **kwargs: Any) -> None:
        super().__init__(records=changes, **kwargs)


class ExpertSenderDeleteOrdersOperator(ExpertSenderBulkWriteOperator):
    """Delete many orders (``DELETE /orders/{id}``, one request per order), from a list, a file or a SQL
    query.

    ``order_ids`` is a list of plain ids (``["A-1", 1002]``) or of rows with ``order_id``; files and queries
    give rows with an ``order_id`` column. Deleting is idempotent: the hook retries failed requests, and an
    order that is already gone counts as done (``already_gone`` in the summary says how many). See
    :class:`ExpertSenderBulkWriteOperator` for the inputs and options; the XCom value is the write summary.

    :param order_ids: the orders to delete (templated, rendered as JSON).
    """

    resource = "order_deletes"
    records_param = "order_ids"

    def __init__(self, *, order_ids: Any = None, **kwargs: Any) -> None:
        super().__init__(records=order_ids, **kwargs)


class _OneOrderOperator(ExpertSenderBaseOperator):
    """Base of the operators acting on one order: ``order_id``, checked when the DAG is parsed if literal."""

    template_fields: tuple[str, ...] = ("order_id", "expertsender_conn_id")

    def __init__(self, *, order_id: str | int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order_id = order_id
        if not is_dynamic(order_id):
            self._order_id()

    def _order_id(self) -> str:
        """The order id as the API's string (an int order number is accepted); a clear error when missing."""
        return str(require("order_id", self.order_id, what=type(self).__name__))


class ExpertSenderGetOrderOperator(_OneOrderOperator):
    """Fetch one order by its id and return it.

    The XCom value is the order as the API returns it (a dict). An unknown order fails the task with
    :class:`~airflow_provider_expertsender.exceptions.ExpertSenderNotFoundError`, unless ``missing_ok=True``:
    then the task succeeds and returns ``None``.

    :param order_id: the order's id, as sent when it was registered (templated).
    :param missing_ok: return ``None`` instead of failing when the order does not exist.
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    def __init__(self, *, order_id: str | int, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(order_id=order_id, **kwargs)
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> dict[str, Any] | None:
        order_id = self._order_id()
        try:
            order = self.hook.get_order(order_id)
        except ExpertSenderNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("Order %s does not exist; missing_ok=True, returning None.", order_id)
            return None
        self.log.info("Fetched order %s.", order_id)
        return order


class ExpertSenderUpdateOrderStatusOperator(_OneOrderOperator):
    """Change the status of an existing order (``PUT /orders/status``).

    The XCom value is ``{"order_id": ..., "status": ..., "website_id": ...}`` with the status in the API's
    spelling. An unknown order fails the task with
    :class:`~airflow_provider_expertsender.exceptions.ExpertSenderNotFoundError`.
    Setting the same status again is harmless, so the task is safe to retry.

    :param order_id: the order's id (templated).
    :param status: ``"placed"``, ``"paid"``, ``"completed"`` or ``"canceled"``, in any case (templated).
    :param website_id: the tracked website the order belongs to, when orders are kept per website (templated).
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    template_fields: tuple[str, ...] = ("order_id", "status", "website_id", "expertsender_conn_id")

    def __init__(
        self, *, order_id: str | int, status: str, website_id: int | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(order_id=order_id, **kwargs)
        self.status = status
        self.website_id = website_id
        if not is_dynamic(status):
            from airflow_provider_expertsender.models import normalize_order_status

            normalize_order_status(status)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_expertsender.models import normalize_order_status, status_change_payload

        order_id = self._order_id()
        # An unknown status is an argument error (ExpertSenderConfigError naming the valid ones); the payload
        # model then checks the id and website id against the API's rules.
        payload = status_change_payload(order_id, normalize_order_status(self.status), self.website_id)
        status, website_id = payload["orderStatus"], payload.get("websiteId")
        self.hook.update_order_status(order_id, status, website_id, validate=False)  # validated above
        self.log.info("Order %s is now %s.", order_id, status)
        return {"order_id": order_id, "status": status, "website_id": website_id}


class ExpertSenderDeleteOrderOperator(_OneOrderOperator):
    """Delete an order (``DELETE /orders/{id}``; ExpertSender marks it deleted rather than erasing it).

    The XCom value is ``{"order_id": ..., "deleted": True}``. An unknown order fails the task with
    :class:`~airflow_provider_expertsender.exceptions.ExpertSenderNotFoundError`, unless ``missing_ok=True``
    (then ``"deleted"`` is ``False``), which makes re-runs of a cleanup DAG succeed.

    :param order_id: the order's id (templated).
    :param missing_ok: succeed when the order does not exist.
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    def __init__(self, *, order_id: str | int, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(order_id=order_id, **kwargs)
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> dict[str, Any]:
        order_id = self._order_id()
        try:
            self.hook.delete_order(order_id)
        except ExpertSenderNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("Order %s does not exist; missing_ok=True, nothing deleted.", order_id)
            return {"order_id": order_id, "deleted": False}
        self.log.info("Deleted order %s.", order_id)
        return {"order_id": order_id, "deleted": True}
