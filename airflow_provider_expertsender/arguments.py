"""Argument checks shared by the hook, the operators, the sensors and the models.

One rule for "was this optional argument given?": ``None`` and a blank string (an empty rendered template,
``""`` or whitespace) are not. Every "exactly one identifier" check in the package is :func:`one_identifier`,
so an empty e-mail means the same to a hook call, an operator and a sensor.

Imports nothing beyond the provider's exceptions (safe at DAG-parse time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError

__all__ = [
    "check_identifiers_early",
    "customer_email",
    "identifier_problem",
    "is_dynamic",
    "is_given",
    "one_identifier",
    "require",
]

_JINJA_MARKERS = ("{{", "{%", "{#")


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
    """Whether an optional argument was given; ``None`` and a blank string (an empty rendered template) are
    not."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


#: Identifier arguments stored under another attribute name. ``email`` names the customer, but an operator's
#: ``email`` attribute is BaseOperator's: the addresses Airflow sends failure and retry alerts to, exported to
#: the task's environment as ``AIRFLOW_CTX_DAG_EMAIL`` (which Airflow 2.10 writes into every task log). The
#: operators keep the argument's name and store the customer's address as ``customer_email``.
IDENTIFIER_ATTRIBUTES = {"email": "customer_email"}


def customer_email(email: Any, operator_kwargs: Mapping[str, Any]) -> Any:
    """The customer's address given to an operator's ``email`` argument, or None when it is the DAG's
    ``default_args["email"]``.

    Airflow gives every operator whose signature has a parameter named in ``default_args`` that value, so the
    alert addresses of ``default_args={"email": [...]}`` (the usual way to set them) would arrive here as the
    customer to look up, or as a second identifier beside ``crm_id=``. Airflow passes the ``default_args`` on
    in the operator's keyword arguments; the value it put there is that very object.

    :param email: the ``email`` argument as received.
    :param operator_kwargs: the operator's other keyword arguments (holding ``default_args``).
    """
    defaults = operator_kwargs.get("default_args") or {}
    if isinstance(defaults, Mapping) and "email" in defaults and email is defaults["email"]:
        return None
    return email


def identifier_attribute(name: str) -> str:
    """The operator attribute that holds the identifier argument ``name`` (and is its template field)."""
    return IDENTIFIER_ATTRIBUTES.get(name, name)


def one_identifier(candidates: Mapping[str, Any], *, what: str) -> tuple[str, Any]:
    """Return the ``(name, value)`` of the only identifier given among ``candidates``.

    :param candidates: argument name -> value, in the order shown to users.
    :param what: who needs the identifier, for the message (e.g. ``"ExpertSenderGetCustomerOperator"``).
    :raises ExpertSenderConfigError: none or several were given. The message names the arguments, never
        their values (they are personal data).
    """
    given = [name for name, value in candidates.items() if is_given(value)]
    if len(given) == 1:
        return given[0], _not_bool(given[0], candidates[given[0]], what)
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
    return _not_bool(name, value, what)


def _not_bool(name: str, value: Any, what: str) -> Any:
    # True is an int to Python and "True" in a URL path: never an identifier.
    if isinstance(value, bool):
        raise ExpertSenderConfigError(f"{what}: {name} must be a string or a number, got {value!r}.")
    return value


def identifier_problem(value: str) -> str | None:
    """Why ``value`` cannot identify a record both when written and when read back, or None.

    The one rule for writes (models: crmId, order id) and reads (the hooks put identifiers in the path):

    * a lone surrogate (text broken by a bad decode) cannot be sent as UTF-8 at all;
    * exactly ``.`` or ``..`` is a path segment HTTP resolves away, so such a record could be stored but never
      read. Nothing is stripped first: ``"..\\xa0"`` is an ordinary identifier, read as ``..%C2%A0``.

    Messages never quote the value (an identifier may be an e-mail address).
    """
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "contains a lone surrogate (text broken by a bad decode); fix the source's encoding"
    if value in (".", ".."):
        return "is a path segment of dots, which HTTP resolves away: such a record could never be read back"
    return None
