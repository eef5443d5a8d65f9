"""The options every bulk write takes, written once: :class:`WriteOptions`.

The bulk operators take these as keyword arguments (``field_map=...``, ``max_concurrency=...``) and keep them
as one ``WriteOptions`` (``op.options``) that Airflow renders like any template field; ``run_write`` takes
the same names. Cheap to import (a DAG file building an operator imports it).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.sync.limits import parse_max_rejected

if TYPE_CHECKING:
    from collections.abc import Callable

ON_INVALID = ("fail", "skip")
F = TypeVar("F", bound="Callable[..., Any]")


@dataclass
class WriteOptions:
    """How a bulk write reads, batches, sends and reports (every field has a default).

    :param field_map: renames of keys/columns, ``{"mail": "email"}`` (templated).
    :param row_mapper: a callable taking a row (dict) and returning the record (dict), or its import path
        ``"package.module:function"``.
    :param batch_size: records per request of a batched resource; default: the connection's ``batch_size``
        extra (100). Ignored by the resources sent one record per request.
    :param max_concurrency: requests in flight; default: the connection's ``max_concurrency`` extra (4).
    :param max_requests_per_second: an upper bound on the requests this write sends per second (``None``:
        none; a 429 slows the write down in any case).
    :param on_invalid: ``"fail"`` (default): when any record is invalid nothing is sent (the whole input is
        validated first); ``"skip"``: valid records are sent, invalid ones reported.
    :param max_rejected: records allowed not to land (invalid, refused by the API, or in doubt) before the
        task fails: a count, or a fraction of the records read (``0.01`` = 1 %). Default 0.
    :param dead_letter_path: JSON Lines file (local path or object-storage URI) receiving each record that did
        not land, with its position, stage and reason; it holds personal data (templated).
    :param checkpoint_path: base folder (local, shared or object-storage URI) where each task instance's
        write records which records the API confirmed (in ``<dag>/<run>/<task>``), so a task retry does not
        redo them (templated). Default: ``$AIRFLOW_HOME/expertsender/checkpoints`` on the worker for the
        writes that must never be repeated (custom events, mode ``Add``); none for idempotent writes. See
        ``docs/bulk-sync.md`` (resumable runs).
    :param state_path: incremental sync (customers and orders): a local path or object-storage URI of the
        sync state; only records new or changed since the run that confirmed them are sent (templated). See
        ``docs/incremental-sync.md``.
    :param full_refresh: with ``state_path``: send every record and rebuild the state.
    :param retry_unsafe: repeat requests that may already have been applied (custom events, mode ``Add``),
        in the hook and across task retries, accepting duplicates.
    :param dry_run: validate and count, send nothing.
    :param validate_against_settings: also check attribute names and consent ids against the business
        unit's settings lists (read once per task).
    """

    #: Rendered by Airflow when the options are a template field of an operator (nested rendering).
    template_fields: ClassVar[tuple[str, ...]] = (
        "field_map",
        "dead_letter_path",
        "checkpoint_path",
        "state_path",
    )

    field_map: dict[str, str] | None = None
    row_mapper: Any = None
    batch_size: int | None = None
    max_concurrency: int | None = None
    max_requests_per_second: float | None = None
    on_invalid: str = "fail"
    max_rejected: int | float = 0
    dead_letter_path: Any = None
    checkpoint_path: Any = None
    state_path: Any = None
    full_refresh: bool = False
    retry_unsafe: bool = False
    dry_run: bool = False
    validate_against_settings: bool = False

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names (the keyword arguments the bulk operators and ``run_write`` take)."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any]) -> WriteOptions:
        """Take the option keywords out of ``kwargs`` (the rest are the operator's own)."""
        return cls(**{name: kwargs.pop(name) for name in cls.names() if name in kwargs})

    def check(self, *, what: str = "The write") -> WriteOptions:
        """Check the values that need no rendering (templated ones are checked by the engine at run time).

        :raises ExpertSenderConfigError: naming the option and what to pass.
        """
        if self.on_invalid not in ON_INVALID:
            raise ExpertSenderConfigError(
                f'{what}: on_invalid must be "fail" or "skip", got {self.on_invalid!r}.'
            )
        parse_max_rejected(self.max_rejected)
        for name in ("batch_size", "max_concurrency"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ExpertSenderConfigError(f"{what}: {name} must be a positive integer, got {value!r}.")
        rate = self.max_requests_per_second
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0
        ):
            raise ExpertSenderConfigError(
                f"{what}: max_requests_per_second must be a positive number or None, got {rate!r}."
            )
        if self.full_refresh and not self.state_path:
            raise ExpertSenderConfigError(
                f"{what}: full_refresh=True rebuilds the sync state of state_path: set state_path too."
            )
        mapper = self.row_mapper
        if (
            mapper is not None
            and not callable(mapper)
            and (not isinstance(mapper, str) or mapper.count(":") != 1)
        ):
            raise ExpertSenderConfigError(
                f"{what}: row_mapper must be a callable or a 'package.module:function' string, "
                f"got {mapper!r}."
            )
        return self


def takes_write_options(init: F) -> F:
    """Declare the options in the signature of an operator's ``__init__`` that takes them as ``**kwargs``.

    Airflow reads ``__init__`` signatures to check ``partial()`` / ``expand()`` arguments and to apply
    ``default_args``; with this, ``op.partial(max_concurrency=2).expand(...)`` and
    ``default_args={"dead_letter_path": ...}`` work while the options stay written once, here.
    """
    signature = inspect.signature(init)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    rest = [p for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD]
    options = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in fields(WriteOptions)
    ]
    init.__signature__ = signature.replace(parameters=[*own, *options, *rest])  # type: ignore[attr-defined]
    return init
