"""What every ExpertSender operator shares: the connection id, the hook, argument checks, no-retry failures.

Argument checks follow one rule: a value the DAG author wrote literally is checked in ``__init__`` (the DAG
fails to parse, with a message saying what to pass); a value that is templated or comes from an ``XComArg`` is
checked in ``execute()``, after rendering and before any request.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_expertsender._compat import AirflowFailException, BaseOperator

# The argument checks live in airflow_provider_expertsender.arguments (the hook and the sensors use them too);
# re-exported for operators/_write.py, which imports them from here.
from airflow_provider_expertsender.arguments import (
    check_identifiers_early,
    is_dynamic,
    is_given,
    one_identifier,
    require,
)
from airflow_provider_expertsender.hooks.expertsender import DEFAULT_CONN_ID, ExpertSenderHook

__all__ = [
    "DEFAULT_CONN_ID",
    "ExpertSenderBaseOperator",
    "check_identifiers_early",
    "is_dynamic",
    "is_given",
    "no_task_retry",
    "one_identifier",
    "require",
]


class ExpertSenderBaseOperator(BaseOperator):
    """Base of every ExpertSender operator: the connection id and a lazily created :class:`ExpertSenderHook`.

    Subclasses list ``expertsender_conn_id`` in their ``template_fields`` (it is not secret: the API key lives
    in the connection) and call ``self.hook`` only from ``execute()``, after templates are rendered.

    :param expertsender_conn_id: Airflow connection of the ExpertSender business unit (templated).
    """

    template_fields: tuple[str, ...] = ("expertsender_conn_id",)
    ui_color = "#ffd6a5"

    def __init__(self, *, expertsender_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expertsender_conn_id = expertsender_conn_id

    @cached_property
    def hook(self) -> ExpertSenderHook:
        """The hook for ``expertsender_conn_id``, created on first use (never at DAG-parse time)."""
        return ExpertSenderHook(expertsender_conn_id=self.expertsender_conn_id)


def no_task_retry(message: str) -> Exception:
    """An exception that fails the task without using its remaining Airflow retries.

    For a write that may already have been applied and must not be repeated (custom events, mode ``Add``).
    """
    return AirflowFailException(message)
