"""The base of the bulk write operators: inputs, the write options, the checkpoint, the summary.

A subclass names its resource (a descriptor of :mod:`~airflow_provider_expertsender.sync.resources`) and
the argument holding its records (``customers``, ``events``...), which ``__init_subclass__`` makes a
template field rendered as JSON. The options every bulk write shares are one
:class:`~airflow_provider_expertsender.sync.options.WriteOptions` (``op.options``), rendered by Airflow as a
nested template field. Everything heavy (models, the sync engine, fsspec, database drivers) is imported in
``execute()`` only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_expertsender.arguments import check_identifiers_early, is_given, one_identifier
from airflow_provider_expertsender.assets import emit_asset_event, with_outlet
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError, ExpertSenderRejectedRecordsError
from airflow_provider_expertsender.links import ExpertSenderDeadLetterLink
from airflow_provider_expertsender.operators._base import DEFAULT_CONN_ID, ExpertSenderBaseOperator
from airflow_provider_expertsender.sync.options import WriteOptions, takes_write_options

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_expertsender._compat import Context
    from airflow_provider_expertsender.sync.resources import Resource


class ExpertSenderBulkWriteOperator(ExpertSenderBaseOperator):
    """Validate records and write them to ExpertSender, from a list, files or a SQL query.

    Exactly one input: the records (the subclass's argument, e.g. ``customers``), ``source_path`` or ``sql``.
    Every record is validated locally before it is sent; requests go out ``max_concurrency`` at a time. When
    the API refuses a batch, the records it names (or that halving the batch isolates) are rejected one by one
    with the server's reason, and the rest still land. A task retry resumes from the write's checkpoint. The
    XCom value is the summary: ``read``, ``invalid``, ``sent``, ``accepted``, ``rejected``, ``in_doubt``,
    ``batches``, ``requests``, ``dead_letter_path``, ``duration_s``... See ``docs/bulk-sync.md``.

    :param source_path: a file, folder or glob of JSON Lines / CSV / Parquet files; a local path or an
        object-storage URI (``s3://aws_conn@bucket/exports/``) (templated).
    :param sql: a SELECT whose rows are the records, or a ``.sql`` file (templated).
    :param sql_conn_id: the Airflow SQL connection to run ``sql`` on (templated).
    :param field_map: renames of keys/columns, ``{"mail": "email"}`` (templated).
    :param row_mapper: a callable taking a row (dict) and returning the record (dict), or its import path
        ``"package.module:function"``; for mappings the automatic rules do not cover.
    :param batch_size: records per request (batched resources); default: the connection's ``batch_size``.
    :param max_concurrency: requests in flight; default: the connection's ``max_concurrency`` extra (4).
    :param max_requests_per_second: at most this many requests per second (default: no cap; a 429 slows the
        write down in any case).
    :param on_invalid: ``"fail"`` (default): when any record is invalid nothing is sent (the whole input is
        validated first); ``"skip"``: valid records are sent, invalid ones reported.
    :param max_rejected: records allowed not to land (invalid, refused by the API, in doubt) before the task
        fails: a count, or a fraction of the records read (``0.01`` = 1 %). Default 0.
    :param dead_letter_path: JSON Lines file (local path or object-storage URI) receiving each record that did
        not land, with its position and the reason; it holds personal data (templated).
    :param checkpoint_path: folder (shared or object storage) of the write's checkpoint, so task retries
        resume; default: a worker-local folder for writes that must not be repeated (templated).
    :param state_path: incremental sync (customers and orders): a local path or object-storage URI of the sync
        state; only records new or changed since the run that confirmed them are sent, and the summary adds
        ``new``, ``changed``, ``unchanged`` and ``missing_from_input`` (templated). See
        ``docs/incremental-sync.md``.
    :param full_refresh: with ``state_path``: send every record and rebuild the state.
    :param retry_unsafe: repeat requests that may already have been applied (events, mode ``Add``).
    :param dry_run: validate and report what would be sent, without any request.
    :param validate_against_settings: also check attribute names and consent ids against the business unit's
        settings lists (read once per task).
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    #: The name of the resource's descriptor in ``sync.resources.RESOURCES`` (set by each subclass).
    resource: ClassVar[str]
    #: The argument holding a list of records (set by each subclass; templated, rendered as JSON).
    records_param: ClassVar[str]

    template_fields: tuple[str, ...] = (
        "expertsender_conn_id",
        "source_path",
        "sql",
        "sql_conn_id",
        "options",
    )
    template_ext: tuple[str, ...] = (".sql",)
    operator_extra_links = (ExpertSenderDeadLetterLink(),)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#ffc78a"
    #: The last write's summary, also after a max_rejected failure (the dead-letter link reads it).
    _summary: dict[str, Any] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        param = cls.__dict__.get("records_param")
        if param is None:
            return
        if param not in cls.template_fields:
            cls.template_fields = (*cls.template_fields, param)
        cls.template_fields_renderers = {**cls.template_fields_renderers, param: "json"}

    @takes_write_options
    def __init__(
        self,
        *,
        records: Any = None,
        source_path: Any = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        mode: str | None = None,
        match_by: str | None = None,
        expertsender_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        options = WriteOptions.pop_from(kwargs)
        # Data-aware scheduling (assets.py): the resource's asset alias joins the outlets given.
        kwargs["outlets"] = with_outlet(self.resource, kwargs.get("outlets"))
        super().__init__(expertsender_conn_id=expertsender_conn_id, **kwargs)
        setattr(self, self.records_param, records)
        self.source_path = source_path
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.mode = mode
        self.match_by = match_by
        self.options = options
        self._check_arguments(records)

    @property
    def descriptor(self) -> Resource:
        """What the engine knows about this operator's resource."""
        from airflow_provider_expertsender.sync.resources import resource_named

        return resource_named(self.resource)

    # ------------------------------------------------------------------------------------------- arguments

    def _inputs(self, records: Any) -> dict[str, Any]:
        return {self.records_param: records, "source_path": self.source_path, "sql": self.sql}

    def _check_arguments(self, records: Any) -> None:
        """The checks that need no rendering and no heavy import (run at DAG-parse time)."""
        what = type(self).__name__
        check_identifiers_early(self._inputs(records), what=what)
        if is_given(self.sql) and not is_given(self.sql_conn_id):
            raise ExpertSenderConfigError(
                f"{what}: sql needs sql_conn_id (the Airflow SQL connection to run it on)."
            )
        self.options.check(what=what)
        if self.options.state_path:
            from airflow_provider_expertsender.sync.state import STATE_RESOURCES

            if self.resource not in STATE_RESOURCES:
                raise ExpertSenderConfigError(
                    f"{what}: state_path applies to {' and '.join(STATE_RESOURCES)} only."
                )
        if self.descriptor.modes is not None and not is_given(self.mode):
            raise ExpertSenderConfigError(f"{what} needs a mode.")

    def _write_arguments(self) -> dict[str, Any]:
        """The resource's own arguments for ``run_write`` (mode, match_by; events add their id)."""
        return {"mode": self.mode, "match_by": self.match_by}

    # ----------------------------------------------------------------------------------------------- input

    def _rows(self) -> Iterator[Any]:
        """The input rows, from whichever of records / source_path / sql was given (after rendering)."""
        from airflow_provider_expertsender.sync import sources

        name, value = one_identifier(
            self._inputs(getattr(self, self.records_param)), what=type(self).__name__
        )
        if name == "source_path":
            return sources.files_rows(value, self.log)
        if name == "sql":
            if not is_given(self.sql_conn_id):
                raise ExpertSenderConfigError(f"{type(self).__name__}: sql needs sql_conn_id.")
            return sources.sql_rows(value, str(self.sql_conn_id), self.log)
        return iter(sources.records_rows(value))

    # --------------------------------------------------------------------------------------------- execute

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_expertsender.sync import run_write
        from airflow_provider_expertsender.sync.checkpoint import TaskTry
        from airflow_provider_expertsender.sync.deadletter import DeadLetterWriter
        from airflow_provider_expertsender.sync.mapping import RowMapper

        descriptor, options = self.descriptor, self.options
        mapper = RowMapper(
            descriptor.rows,
            field_map=options.field_map or None,
            row_mapper=options.row_mapper,
            logger=self.log,
        )
        settings = None
        if options.validate_against_settings:
            if descriptor.settings is None:
                raise ExpertSenderConfigError(
                    f"{type(self).__name__}: validate_against_settings does not apply to {descriptor.name}."
                )
            settings = descriptor.settings(self.hook)
            self.log.info("Validating against the business unit's settings lists.")
        # Kept on the operator so that on_kill can mark the dead-letter file incomplete.
        self._dead_letters = DeadLetterWriter(options.dead_letter_path or None)
        rows = self._rows()
        try:
            summary = run_write(
                self.hook,
                resource=descriptor.name,
                records=mapper.map(rows),
                options=replace(options, dead_letter_path=self._dead_letters),
                settings=settings,
                task=TaskTry.from_context(context),
                logger=self.log,
                **self._write_arguments(),
            )
        except ExpertSenderRejectedRecordsError as err:
            # Downstream tasks (trigger_rule="all_done") and callbacks can still read the counts.
            ti = context.get("ti")
            if ti is not None:
                ti.xcom_push(key="return_value", value=err.summary)
            self._summary = err.summary
            raise
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # release the file handle / database cursor at once, also on failure
        self._summary = summary
        emit_asset_event(context, self.resource, self.expertsender_conn_id, summary)
        return summary

    def on_kill(self) -> None:
        """The task is being killed (``SIGTERM``, ``execution_timeout``): the dead-letter file says so.

        Every line it holds was written before the log reported it; this adds a line with stage
        ``"incomplete"`` (see ``sync/deadletter.py``).
        """
        writer = getattr(self, "_dead_letters", None)
        if writer is not None:
            writer.interrupt(
                "The task was killed before this write finished: the file holds every record reported until "
                "then, but records not yet read or answered are not in it."
            )
        super().on_kill()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage datasets of the write: the file or tables read, the ExpertSender resource written."""
        from airflow_provider_expertsender.sync.lineage import write_lineage

        return write_lineage(
            resource=self.resource,
            conn_id=self.expertsender_conn_id,
            source_path=self.source_path,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            summary=getattr(self, "_summary", None),
        )
