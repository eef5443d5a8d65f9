"""OpenLineage for the bulk write operators (used only when the OpenLineage provider is installed).

Datasets:

* output: ``namespace="expertsender://<connection id>"``, ``name="customers"`` or ``"orders"``: the names of
  the Asset the write updates (``assets.py``; one business unit per connection, and the API host is the same
  for every unit), with an ``outputStatistics`` facet holding the number of accepted records;
* input, for ``source_path``: the file or folder, named after the OpenLineage conventions (``s3://bucket``
  + key, ``gs://bucket`` + path, ``file`` + absolute path); the connection id of ``s3://conn@bucket`` is
  dropped;
* input, for ``sql``: the tables the query reads, found by the OpenLineage SQL parser with the SQL
  connection's own OpenLineage support (PostgreSQL, MySQL, Snowflake...); none when the hook has none;
* records passed in memory (an XCom) have no dataset of their own.

Nothing here touches the network or the API key; failures to derive a dataset are logged at debug level and
never fail the task.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_expertsender.assets import dataset_name
from airflow_provider_expertsender.sync.paths import is_uri

log = logging.getLogger(__name__)


def file_dataset_name(location: str) -> tuple[str, str]:
    """``(namespace, name)`` of a file or folder after the OpenLineage naming conventions."""
    if not is_uri(location):
        return "file", os.path.abspath(os.path.expanduser(location))
    parts = urlsplit(location)
    host = parts.hostname or ""  # drops a "conn_id@" user part
    if parts.scheme == "file":
        return "file", parts.path
    return f"{parts.scheme}://{host}", parts.path.lstrip("/") or "/"


def _sql_inputs(sql: str, sql_conn_id: str) -> list[Any]:
    from airflow_provider_expertsender._compat import BaseHook, SQLParser

    hook = BaseHook.get_connection(sql_conn_id).get_hook()
    connection = BaseHook.get_connection(sql_conn_id)
    database_info = hook.get_openlineage_database_info(connection)
    if database_info is None:
        return []
    parser = SQLParser(
        dialect=hook.get_openlineage_database_dialect(connection),
        default_schema=hook.get_openlineage_default_schema(),
    )
    metadata = parser.generate_openlineage_metadata_from_sql(
        sql=sql, hook=hook, database_info=database_info, use_connection=False
    )
    return list(metadata.inputs)


def write_lineage(
    *,
    resource: str,
    conn_id: str,
    source_path: Any = None,
    sql: str | None = None,
    sql_conn_id: str | None = None,
    summary: dict[str, Any] | None = None,
) -> Any:
    """The ``OperatorLineage`` of one write.

    :param resource: ``"customers"`` or ``"orders"``.
    :param conn_id: the (rendered) ExpertSender connection id, which names the business unit.
    :param source_path: the rendered ``source_path``, if the input was files.
    :param sql: the rendered query, if the input was SQL.
    :param sql_conn_id: its connection.
    :param summary: the write's summary, for the output statistics.
    """
    from airflow_provider_expertsender._compat import (
        OpenLineageDataset as Dataset,
    )
    from airflow_provider_expertsender._compat import (
        OperatorLineage,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )

    inputs: list[Any] = []
    try:
        if source_path:
            namespace, name = file_dataset_name(str(source_path))
            inputs.append(Dataset(namespace=namespace, name=name))
        elif sql and sql_conn_id:
            inputs.extend(_sql_inputs(sql, sql_conn_id))
    except Exception:
        log.debug("OpenLineage: could not derive the input dataset", exc_info=True)
    output_facets: dict[str, Any] = {}
    if summary and not summary.get("dry_run"):
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=summary["accepted"])
    namespace, name = dataset_name(resource, conn_id)
    outputs = [OutputDataset(namespace=namespace, name=name, outputFacets=output_facets)]
    return OperatorLineage(inputs=inputs, outputs=outputs)
