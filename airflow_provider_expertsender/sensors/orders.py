"""``ExpertSenderOrderSensor``: wait until an order exists in ExpertSender, optionally with a given status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.arguments import is_dynamic, require
from airflow_provider_expertsender.conditions import (
    Verdict,
    judge_order,
    order_statuses,
    status_list,
)
from airflow_provider_expertsender.exceptions import ExpertSenderOrderStateError
from airflow_provider_expertsender.sensors._base import ExpertSenderBaseSensor

if TYPE_CHECKING:
    from collections.abc import Collection

    from airflow_provider_expertsender._compat import BaseTrigger

_WHAT = "ExpertSenderOrderSensor"


class ExpertSenderOrderSensor(ExpertSenderBaseSensor):
    """Wait until an order is visible in ExpertSender and, if ``target_statuses`` is given, has one of them.

    The wait fails at once, without retries (``ExpertSenderOrderStateError``; skipped with ``soft_fail``),
    when the order is deleted or its status is in ``failure_statuses``. Statuses are compared
    case-insensitively, in documented spelling (``"Cancelled"`` is ``"canceled"``). The order is the task's
    return value (XCom); it names its customer, so pass ``do_xcom_push=False`` when downstream tasks do not
    need it.

    Modes: ``poke`` and ``reschedule`` as in every sensor (``poke_interval``, ``timeout``, ``soft_fail``,
    ``exponential_backoff``), or ``deferrable=True``: one poke, then the wait moves to the triggerer.

    :param order_id: the order's id (templated).
    :param target_statuses: statuses that end the wait successfully (``placed``, ``paid``, ``completed``,
        ``canceled``); ``None`` (default): the order existing is enough.
    :param failure_statuses: statuses that fail the wait at once. ``None`` (default): ``canceled`` unless it
        is one of ``target_statuses``; ``[]``: never fail on a status.
    :param expertsender_conn_id: Airflow connection of the ExpertSender business unit (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: tuple[str, ...] = ("expertsender_conn_id", "order_id")

    def __init__(
        self,
        *,
        order_id: str,
        target_statuses: Collection[str] | str | None = None,
        failure_statuses: Collection[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not is_dynamic(order_id):
            require("order_id", order_id, what=_WHAT)
        self.order_id = order_id
        self.target_statuses = status_list(target_statuses, param=f"{_WHAT}: target_statuses")
        self.failure_statuses = status_list(failure_statuses, param=f"{_WHAT}: failure_statuses")

    def _prepare(self) -> None:
        self._order_id = str(require("order_id", self.order_id, what=_WHAT))
        self._targets, self._failures = order_statuses(self.target_statuses, self.failure_statuses)

    @property
    def _what(self) -> str:
        return f"order {self._order_id}"

    def _fetch(self) -> dict[str, Any]:
        return self.hook.get_order(self._order_id)

    def _judge(self, record: dict[str, Any]) -> Verdict:
        return judge_order(
            record, order_id=self._order_id, target_statuses=self._targets, failure_statuses=self._failures
        )

    def _failure_error(self, message: str, event: dict[str, Any]) -> Exception:
        status = event.get("order_status")
        return ExpertSenderOrderStateError(
            f"{message} Waiting further cannot succeed.",
            order_id=self._order_id,
            order_status=status if isinstance(status, str) else None,
            deleted=bool(event.get("deleted")),
        )

    def _trigger(self, *, deadline: float, include_record: bool) -> BaseTrigger:
        from airflow_provider_expertsender.triggers.expertsender import ExpertSenderOrderTrigger

        return ExpertSenderOrderTrigger(
            order_id=self._order_id,
            # The sensor's own, already resolved lists: the trigger applies exactly the same rule.
            target_statuses=None if self._targets is None else list(self._targets),
            failure_statuses=list(self._failures),
            expertsender_conn_id=self.expertsender_conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            include_record=include_record,
            delay_first_poll=True,
        )
