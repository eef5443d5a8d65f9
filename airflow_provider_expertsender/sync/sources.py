"""Where the rows of a bulk write come from: a list, files (JSON Lines, CSV, Parquet), or a SQL query.

Every source is a lazy iterator of dict rows read as a stream: memory does not grow with the input.

Files are found by :func:`list_files` and read by suffix:

* ``.jsonl``, ``.ndjson``, ``.json`` -- JSON Lines, one object per line (a ``.json`` file holding a single
  array is accepted too, but is read whole);
* ``.csv`` (comma) and ``.tsv`` (tab) -- a header row, UTF-8 (with or without BOM); an empty cell is ``None``;
* ``.parquet``, ``.pq`` -- needs ``pyarrow`` (``pip install 'airflow-provider-expertsender[parquet]'``);
* any of these with ``.gz`` appended is decompressed on the fly.

A SQL query runs on any Airflow SQL connection (common-sql ``DbApiHook``) with a server-side cursor where the
driver has one (PostgreSQL psycopg2/psycopg: a named cursor; MySQL: ``SSCursor``), read ``fetchmany`` by
``fetchmany`` -- never ``fetchall``.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import logging
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from typing import IO, Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError, ExpertSenderSourceError
from airflow_provider_expertsender.sync.mapping import RowError
from airflow_provider_expertsender.sync.paths import as_path, display

log = logging.getLogger(__name__)

#: Rows fetched from a database per round trip (and the size of a server-side cursor's window).
FETCH_SIZE = 2000
#: Largest CSV cell accepted (the csv module's default is 128 KiB); longer cells are refused by validation.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
#: Rows converted at once from a Parquet file.
PARQUET_BATCH_ROWS = 4096

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_GLOB_CHARS = frozenset("*?[")


# ------------------------------------------------------------------------------------------------- records


def records_rows(records: Any) -> Iterable[Any]:
    """The rows of an in-memory ``records`` argument (a list, an XCom value, a rendered JSON string).

    A dict is one record. A string (what a Jinja template renders to) must hold a JSON list or object, or the
    Python literal of one: ``"{{ ti.xcom_pull('extract') }}"`` renders the list's ``repr``, which
    :func:`ast.literal_eval` reads back safely (literals only, no code).
    """
    if isinstance(records, (str, bytes)):
        try:
            records = json.loads(records)
        except ValueError:
            try:
                records = ast.literal_eval(records.decode() if isinstance(records, bytes) else records)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ExpertSenderConfigError(
                    "The records argument is a string that is neither JSON nor a Python list/dict literal. "
                    "Pass a list of dicts or an XComArg, render with '| tojson', or set "
                    "render_template_as_native_obj=True on the DAG."
                ) from None
    if isinstance(records, Mapping):
        return [records]
    if not isinstance(records, Iterable):
        raise ExpertSenderConfigError(
            f"The records argument must be a list of dicts, got {type(records).__name__}."
        )
    return records


# --------------------------------------------------------------------------------------------------- files


def _format_of(name: str) -> tuple[str | None, bool]:
    lowered = name.lower()
    compressed = lowered.endswith(".gz")
    if compressed:
        lowered = lowered[:-3]
    for suffix, fmt in FORMATS.items():
        if lowered.endswith(suffix):
            return fmt, compressed
    return None, compressed


def list_files(source_path: Any) -> list[Any]:
    """The files to read for ``source_path``, in a stable (sorted) order.

    :param source_path: a file, a folder (every file with a known suffix below it, recursively, skipping names
        starting with ``_`` or ``.`` such as ``_SUCCESS``), or a glob in the last part (``.../part-*.csv``);
        a local path or an object-storage URI.
    :raises ExpertSenderConfigError: the path does not exist, or a file has no known suffix.
    """
    text = display(source_path)
    name = text.rstrip("/").rsplit("/", 1)[-1]
    if _GLOB_CHARS & set(name):
        base = as_path(text.rstrip("/")[: -len(name)] or ".")
        files = [p for p in base.glob(name) if p.is_file()]
        return sorted(files, key=str)
    path = as_path(source_path)
    if not path.exists():
        raise ExpertSenderConfigError(f"source_path {text} does not exist.")
    if path.is_file():
        if _format_of(path.name)[0] is None:
            raise ExpertSenderConfigError(
                f"source_path {text}: unknown file type; expected one of "
                f"{', '.join(sorted(FORMATS))} (optionally .gz)."
            )
        return [path]
    files = []
    for candidate in path.rglob("*"):
        relative = str(candidate)[len(str(path)) :].strip("/")
        if any(part.startswith(("_", ".")) for part in relative.split("/")):
            continue
        if _format_of(candidate.name)[0] is not None and candidate.is_file():
            files.append(candidate)
    return sorted(files, key=str)


def _jsonl_rows(handle: IO[bytes], name: str) -> Iterator[Any]:
    first = True
    # readline rather than iterating the handle: Airflow 2.10 wraps object-storage files in a proxy that
    # forwards method calls but not the iterator protocol.
    for number, line in enumerate(iter(handle.readline, b""), 1):
        if first:
            if line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            stripped = line.lstrip()
            if stripped[:1] == b"[":
                # A JSON array rather than JSON Lines: parse the whole file (not streamed).
                yield from _json_array_rows(line + handle.read(), name)
                return
            first = False
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError as err:
            yield RowError(f"{name} line {number}: not valid JSON ({err.args[0].split(':')[0]})")


def _json_array_rows(data: bytes, name: str) -> Iterator[Any]:
    log.warning("%s holds one JSON array, not JSON Lines: it is read whole into memory.", name)
    try:
        items = json.loads(data)
    except ValueError as err:
        yield RowError(f"{name}: not valid JSON ({err.args[0].split(':')[0]})")
        return
    yield from items if isinstance(items, list) else [items]


def _text_lines(handle: IO[bytes], name: str) -> Iterator[str]:
    """The file's lines decoded one by one, so bad UTF-8 is reported at its own line (line endings kept)."""
    for number, raw in enumerate(iter(handle.readline, b""), 1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ExpertSenderSourceError(
                f"{name} line {number}: not UTF-8 text. Save it as UTF-8 (nothing after it was read)."
            ) from None


def _csv_rows(handle: IO[bytes], name: str, delimiter: str) -> Iterator[Any]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    # strict: an unclosed quote is an error at the end of the file, never rows silently merged into one cell.
    reader = csv.reader(_text_lines(handle, name), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        width = len(header)
        for row in reader:
            if len(row) != width:
                if not row:
                    continue
                yield RowError(
                    f"{name} line {reader.line_num}: {len(row)} fields, the header has {width}",
                    dict(zip(header, row, strict=False)),
                )
                continue
            yield {key: (value if value != "" else None) for key, value in zip(header, row, strict=True)}
    except csv.Error as err:
        raise ExpertSenderSourceError(
            f"{name} line {reader.line_num}: broken CSV ({err}); check the quoting of that line and the ones "
            "before it. Nothing after it was read."
        ) from None


def _parquet_rows(handle: IO[bytes]) -> Iterator[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ExpertSenderConfigError(
            "Reading Parquet needs pyarrow: pip install 'airflow-provider-expertsender[parquet]'."
        ) from err
    parquet = pq.ParquetFile(handle)
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        yield from batch.to_pylist()


def file_rows(path: Any) -> Iterator[Any]:
    """The rows of one file (see the module docstring for the formats)."""
    fmt, compressed = _format_of(path.name)
    name = display(path)
    try:
        with path.open("rb") as raw:
            handle: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
            if fmt == "jsonl":
                yield from _jsonl_rows(handle, name)
            elif fmt == "parquet":
                yield from _parquet_rows(handle)
            else:
                yield from _csv_rows(handle, name, "\t" if fmt == "tsv" else ",")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ExpertSenderSourceError(
            f"{name}: the compressed file is truncated or corrupt ({type(err).__name__}). Nothing after the "
            "damaged part was read."
        ) from None


def files_rows(source_path: Any, logger: Any = None) -> Iterator[Any]:
    """The rows of every file of ``source_path`` (:func:`list_files`), file after file."""
    out = logger or log
    files = list_files(source_path)
    if not files:
        out.warning(
            "source_path %s holds no file with a known suffix: nothing to read.", display(source_path)
        )
    elif len(files) > 1:
        out.info("Reading %d files from %s.", len(files), display(source_path))
    for path in files:
        out.info("Reading %s.", display(path))
        yield from file_rows(path)


# ----------------------------------------------------------------------------------------------------- SQL


def _streaming_cursor(connection: Any) -> Any:
    """A cursor that leaves the result on the server, for the drivers that have one; else a plain cursor."""
    module = type(connection).__module__.split(".", 1)[0]
    if module == "psycopg2":
        cursor = connection.cursor(
            name=f"expertsender_{uuid.uuid4().hex}", withhold=bool(getattr(connection, "autocommit", False))
        )
        cursor.itersize = FETCH_SIZE
        return cursor
    if module == "psycopg":
        return connection.cursor(name=f"expertsender_{uuid.uuid4().hex}")
    if module == "MySQLdb":
        from MySQLdb.cursors import SSCursor

        return connection.cursor(SSCursor)
    if module == "pymysql":
        from pymysql.cursors import SSCursor as PyMySQLSSCursor

        return connection.cursor(PyMySQLSSCursor)
    cursor = connection.cursor()
    try:
        cursor.arraysize = FETCH_SIZE
    except AttributeError:  # pragma: no cover - drivers with a read-only arraysize
        pass
    return cursor


def _named(cursor: Any) -> bool:
    return bool(getattr(cursor, "name", None))


def sql_rows(sql: str, sql_conn_id: str, logger: Any = None) -> Iterator[dict[str, Any]]:
    """The rows of ``sql`` run on the Airflow connection ``sql_conn_id``, as dicts keyed by column name.

    :raises ExpertSenderConfigError: the connection's hook is not a SQL (DB-API) hook.
    """
    from airflow_provider_expertsender import _compat

    out = logger or log
    db_hook = _compat.BaseHook.get_connection(sql_conn_id).get_hook()
    try:
        from airflow_provider_expertsender._compat import DbApiHook
    except ImportError:  # common-sql not installed: accept any hook shaped like one
        is_sql = callable(getattr(db_hook, "get_records", None)) and callable(
            getattr(db_hook, "get_conn", None)
        )
    else:
        is_sql = isinstance(db_hook, DbApiHook)
    if not is_sql:
        raise ExpertSenderConfigError(
            f"sql_conn_id {sql_conn_id!r} is not a SQL connection (its hook {type(db_hook).__name__} has no "
            "DB-API get_conn()); use a connection of a common-sql provider (postgres, mysql, sqlite...)."
        )
    connection = db_hook.get_conn()
    try:
        with closing(_streaming_cursor(connection)) as cursor:
            out.info("Running the source query on %s (%s).", sql_conn_id, type(db_hook).__name__)
            cursor.execute(sql)
            # A server-side cursor knows its columns only after the first fetch.
            rows = cursor.fetchmany(FETCH_SIZE) if cursor.description is not None or _named(cursor) else None
            if cursor.description is None:
                raise ExpertSenderConfigError("The source query returned no result set; it must be a SELECT.")
            names = [column[0] for column in cursor.description]
            while rows:
                for row in rows:
                    yield dict(zip(names, row, strict=True))
                rows = cursor.fetchmany(FETCH_SIZE)
    finally:
        try:
            connection.rollback()  # end the read transaction; nothing was written
        except Exception:
            log.debug("rollback after the source query failed", exc_info=True)
        connection.close()
