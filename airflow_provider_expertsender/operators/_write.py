"""The base of the bulk write operators (customers, orders): inputs, mapping, batching options, the summary.

Subclasses set :attr:`~ExpertSenderBulkWriteOperator.resource` and
:attr:`~ExpertSenderBulkWriteOperator.records_param`, take their records under that name, pass them on as
``records=`` and add that name to ``template_fields``. Everything heavy (models, the sync engine, fsspec,
database drivers) is imported in ``execute()`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderRejectedRecordsError,
)
from airflow_provider_expertsender.operators._base import (
    DEFAULT_CONN_ID,
    ExpertSenderBaseOperator,
    check_identifiers_early,
    is_dynamic,
    is_given,
    no_task_retry,
    one_identifier,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_expertsender.models import SettingsCatalog

ON_INVALID = ("fail", "skip")


class ExpertSenderBulkWriteOperator(ExpertSenderBaseOperator):
    """Validate records and write them to ExpertSender in batches, from a list, files or a SQL query.

    Exactly one input: the records (the subclass's argument, e.g. ``customers``), ``source_path`` or ``sql``.
    Every record is validated locally before it is sent; batches go out ``max_concurrency`` at a time. When
    the API refuses a batch, the records it names (or that halving the batch isolates) are rejected one by one
    with the server's reason, and the rest still land. The XCom value is the summary: ``read``, ``invalid``,
    ``sent``, ``accepted``, ``rejected``, ``batches``, ``requests``, ``dead_letter_path``, ``duration_s``...
    See ``docs/bulk-sync.md`` for the details.

    :param records: the records, dicts with snake_case or camelCase keys; a list, an ``XComArg``, or a JSON
        string (subclasses take it under their own name and template it).
    :param source_path: a file, folder or glob of JSON Lines / CSV / Parquet files; a local path or an
        object-storage URI (``s3://aws_conn@bucket/exports/``) (templated).
    :param sql: a SELECT whose rows are the records, or a ``.sql`` file (templated).
    :param sql_conn_id: the Airflow SQL connection to run ``sql`` on (templated).
    :param field_map: renames of keys/columns, ``{"mail": "email"}`` (templated).
    :param row_mapper: a callable taking a row (dict) and returning the record (dict), or its import path
        ``"package.module:function"``; for mappings the automatic rules do not cover.
    :param mode: the write mode (templated); see the subclass.
    :param match_by: customers: which identifier finds the customer (templated).
    :param batch_size: records per request; default: the connection's ``batch_size`` extra (100).
    :param max_concurrency: requests in flight; default: the connection's ``max_concurrency`` extra (4).
    :param on_invalid: ``"fail"`` (default): when any record is invalid nothing is sent (the whole input is
        validated first); ``"skip"``: valid records are sent, invalid ones reported.
    :param max_rejected: records allowed not to land (invalid, or refused by the API) before the task fails:
        a count, or a fraction of the records read (``0.01`` = 1 %). Default 0. Checked after everything
        valid was sent.
    :param dead_letter_path: JSON Lines file (local path or object-storage URI) receiving each record that did
        not land, with its position and the reason; it holds personal data (templated).
    :param dry_run: validate and report what would be sent, without any request.
    :param validate_against_settings: also check attribute names and consent ids against the business unit's
        settings lists (read once per task).
    :param expertsender_conn_id: connection of the business unit (templated).
    """

    resource: ClassVar[str]
    records_param: ClassVar[str]

    template_fields: tuple[str, ...] = (
        "expertsender_conn_id",
        "source_path",
        "sql",
        "sql_conn_id",
        "field_map",
        "mode",
        "match_by",
        "dead_letter_path",
    )
    template_ext: tuple[str, ...] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "field_map": "json"}
    ui_color = "#ffc78a"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        param = cls.__dict__.get("records_param")
        if param and param not in cls.template_fields:
            cls.template_fields = (*cls.template_fields, param)

    def __init__(
        self,
        *,
        records: Any = None,
        source_path: Any = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        field_map: dict[str, str] | None = None,
        row_mapper: Any = None,
        mode: str,
        match_by: str | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        on_invalid: str = "fail",
        max_rejected: int | float = 0,
        dead_letter_path: Any = None,
        dry_run: bool = False,
        validate_against_settings: bool = False,
        expertsender_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(expertsender_conn_id=expertsender_conn_id, **kwargs)
        setattr(self, self.records_param, records)
        self.source_path = source_path
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.field_map = field_map
        self.row_mapper = row_mapper
        self.mode = mode
        self.match_by = match_by
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.on_invalid = on_invalid
        self.max_rejected = max_rejected
        self.dead_letter_path = dead_letter_path
        # Not self.dry_run: BaseOperator.dry_run() is a method (``airflow tasks test --dry-run`` calls it).
        self.dry_run_only = dry_run
        self.validate_against_settings = validate_against_settings
        self._check_arguments(records)

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
        if self.on_invalid not in ON_INVALID:
            raise ExpertSenderConfigError(
                f'{what}: on_invalid must be "fail" or "skip", got {self.on_invalid!r}.'
            )
        from airflow_provider_expertsender.sync.limits import parse_max_rejected

        parse_max_rejected(self.max_rejected)
        for name in ("batch_size", "max_concurrency"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ExpertSenderConfigError(f"{what}: {name} must be a positive integer, got {value!r}.")
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
        if not is_given(self.mode) and not is_dynamic(self.mode):
            raise ExpertSenderConfigError(f"{what} needs a mode.")

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

    def _settings(self) -> SettingsCatalog:
        from airflow_provider_expertsender.models import SettingsCatalog

        hook = self.hook
        if self.resource == "customers":
            catalog = SettingsCatalog.from_lists(
                customer_attributes=hook.list_customer_attributes(), consents=hook.list_consents()
            )
        else:
            catalog = SettingsCatalog.from_lists(
                order_attributes=hook.list_order_attributes(),
                product_attributes=hook.list_product_attributes(),
            )
        self.log.info("Validating against the business unit's settings lists.")
        return catalog

    # --------------------------------------------------------------------------------------------- execute

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_expertsender.sync import run_write
        from airflow_provider_expertsender.sync.deadletter import DeadLetterWriter
        from airflow_provider_expertsender.sync.mapping import RowMapper

        mapper = RowMapper(
            self.resource, field_map=self.field_map or None, row_mapper=self.row_mapper, logger=self.log
        )
        settings = self._settings() if self.validate_against_settings else None
        # Kept on the operator so that on_kill can mark the file incomplete.
        self._dead_letters = DeadLetterWriter(self.dead_letter_path or None)
        rows = self._rows()
        try:
            summary = run_write(
                self.hook,
                resource=self.resource,
                records=mapper.map(rows),
                mode=self.mode,
                match_by=self.match_by if self.resource == "customers" else None,
                batch_size=self.batch_size,
                max_concurrency=self.max_concurrency,
                on_invalid=self.on_invalid,
                max_rejected=self.max_rejected,
                dead_letter_path=self._dead_letters,
                dry_run=self.dry_run_only,
                settings=settings,
                logger=self.log,
            )
        except ExpertSenderRejectedRecordsError as err:
            # Downstream tasks (trigger_rule="all_done") and callbacks can still read the counts.
            ti = context.get("ti")
            if ti is not None:
                ti.xcom_push(key="return_value", value=err.summary)
            raise
        except ExpertSenderError as err:
            if getattr(err, "maybe_applied", False) and str(self.mode).strip().lower() == "add":
                raise no_task_retry(
                    f"A batch may have been applied although its request failed ({err.message}). Mode Add is "
                    "not idempotent, so the task is not retried: the records in doubt are named in the log "
                    "(and in the dead-letter file, stage in_doubt). Check them, then re-run; or use the "
                    "upsert mode (AddOrUpdate / AddOrReplace), which is safe to repeat."
                ) from err
            raise
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # release the file handle / database cursor at once, also on failure
        self._summary = summary
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
            base_url=self.hook.config.base_url,
            source_path=self.source_path,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            summary=getattr(self, "_summary", None),
        )
