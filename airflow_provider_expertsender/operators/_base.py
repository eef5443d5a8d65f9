"""What every ExpertSender operator shares: the connection id, the hook, and argument checks.

Argument checks follow one rule: a value the DAG author wrote literally is checked in ``__init__`` (the DAG
fails to parse, with a message saying what to pass); a value that is templated or comes from an ``XComArg`` is
checked in ``execute()``, after rendering and before any request.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.hooks.expertsender import DEFAULT_CONN_ID, ExpertSenderHook

if TYPE_CHECKING:
    from collections.abc import Mapping

_JINJA_MARKERS = ("{{", "{%", "{#")


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


def is_dynamic(value: Any) -> bool:
    """Whether ``value`` is only known at run time.

    True for an ``XComArg`` and for a string holding a Jinja template, also when nested in the values of a
    dict, list or tuple (Airflow renders templates inside containers; it does not render dict keys).
    """
    if isinstance(value, str):
        return any(marker in value for marker in _JINJA_MARKERS)
    if isinstance(value, dict):
        return any(is_dynamic(item) for item in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(is_dynamic(item) for item in value)
    # XComArg and its subclasses (PlainXComArg, MapXComArg...), on both Airflow lines, without importing them.
    return callable(getattr(value, "resolve", None)) and callable(getattr(value, "iter_references", None))


def is_given(value: Any) -> bool:
    """Whether an optional argument was given; ``None`` and ``""`` (an empty rendered template) are not."""
    return value is not None and value != ""


def one_identifier(candidates: Mapping[str, Any], *, what: str) -> tuple[str, Any]:
    """Return the ``(name, value)`` of the only identifier given among ``candidates``.

    :param candidates: argument name -> value, in the order shown to users.
    :param what: what the identifier is for, for the message (e.g. ``"ExpertSenderGetCustomerOperator"``).
    :raises ExpertSenderConfigError: none or several were given. The message names the arguments, never
        their values (they are personal data).
    """
    given = [name for name, value in candidates.items() if is_given(value)]
    if len(given) == 1:
        return given[0], candidates[given[0]]
    names = ", ".join(candidates)
    if not given:
        raise ExpertSenderConfigError(f"{what} needs exactly one of {names}; none was given. Pass one.")
    raise ExpertSenderConfigError(
        f"{what} needs exactly one of {names}; got {len(given)} ({', '.join(given)}). Pass only one of them."
    )


def check_identifiers_early(candidates: Mapping[str, Any], *, what: str) -> None:
    """Run :func:`one_identifier` at DAG-parse time when the outcome cannot change at run time.

    "None given" is final. Several given is final only when none of them is templated or an ``XComArg``
    (one may render to ``""``); otherwise the check runs again in ``execute()``.
    """
    given = [value for value in candidates.values() if is_given(value)]
    if len(given) > 1 and any(is_dynamic(value) for value in given):
        return
    one_identifier(candidates, what=what)


def require(name: str, value: Any, *, what: str) -> Any:
    """Return ``value``, or raise :class:`ExpertSenderConfigError` when the required argument is missing."""
    if not is_given(value):
        raise ExpertSenderConfigError(f"{what} needs {name}; it is {value!r}. Pass a non-empty {name}.")
    return value


def no_task_retry(message: str) -> Exception:
    """An exception that fails the task without using its remaining Airflow retries.

    For a write that may already have been applied and must not be repeated (custom events, mode ``Add``).
    """
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]
    return AirflowFailException(message)
