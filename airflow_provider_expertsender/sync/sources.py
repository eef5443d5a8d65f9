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

Every source refuses duplicate column names (a CSV header ``email,first_name,email``, a Parquet schema, a
query selecting ``a.email`` and ``b.email``), naming them: a dict row keeps one value per name, so the other
column would be lost without a word. A JSON object with a key twice is an invalid row for the same reason.

A row that cannot be read (a line that is not JSON or nested too deeply, a CSV line with broken quoting or
bytes that are not UTF-8, a Parquet value Python cannot hold) becomes a :class:`~.mapping.RowError` naming its
file and line: an invalid record like any other, not the end of the run. Only what makes the rest of a file
unreadable stops it (an unclosed quote that runs to the end of the file, a ``.json`` file holding one array
that does not parse, a truncated compressed file, a file that is not Parquet). :func:`files_rows` and
:func:`sql_rows` return :class:`SourceRows`, which also tell where the row read last came from (for messages
about it further down the pipeline).

Readers yield *units*: a row as read, before it is decoded (a JSON line's bytes, a CSV line's cells, a query's
tuple), with the :class:`Decoder` of its file or query and its line or row number. Iterating a
:class:`SourceRows` decodes every unit into its row; :meth:`SourceRows.units` hands out the units themselves,
so the incremental state can recognise a row it has seen before by its bytes and skip decoding, mapping and
validating it (``sync/state.py``).
"""

from __future__ import annotations

import ast
import csv
import gzip
import logging
import marshal
import pickle
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from typing import IO, Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError, ExpertSenderSourceError
from airflow_provider_expertsender.sync.mapping import RowError
from airflow_provider_expertsender.sync.paths import as_path, display
from airflow_provider_expertsender.sync.strict_json import DuplicateKeyError, json_problem, loads_strict

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


def stable_bytes(value: Any) -> bytes | None:
    """Bytes that are equal exactly when two values are (same types too: ``1``, ``1.0`` and ``True`` differ),
    for hashing; None for a value that has none.

    :func:`marshal.dumps` (format 0: no references, no interning marks) for JSON types, strings, numbers and
    their lists, tuples and dicts; pickle for what marshal does not know (the dates and decimals of SQL rows).
    """
    try:
        return marshal.dumps(value, 0)
    except ValueError:
        try:
            return pickle.dumps(value, protocol=5)
        except Exception:
            return None


class Decoder:
    """How the units of one file (or query) become rows, and what identifies a unit's content.

    This base hands out units that are rows already (Parquet rows, the items of a JSON array, rows a reader
    refused as :class:`~.mapping.RowError`) and has no fingerprint for them.

    :param source: the file's display name, or ``"the source query"``.
    :param unit: what a number counts: ``"line"``, ``"row"``, ``"item"``.
    """

    __slots__ = ("context", "source", "unit", "verbatim")

    def __init__(self, source: str, unit: str = "line") -> None:
        self.source = source
        self.unit = unit
        #: What a unit's meaning depends on besides its own bytes (the format, the CSV header, the query's
        #: columns); None when units have no fingerprint.
        self.context: bytes | None = None
        #: A unit is its own fingerprint (bytes): :meth:`fingerprint` returns it as it is.
        self.verbatim = False

    def decode(self, raw: Any, number: int) -> Any:
        """The row of a unit (a dict, or a :class:`~.mapping.RowError`)."""
        return raw

    def fingerprint(self, raw: Any) -> bytes | None:
        """Bytes that are equal for two units exactly when their rows are equal (with the same
        :attr:`context`), or None when the unit has none."""
        return None

    def where(self, number: int) -> str:
        """``"export.csv line 12"``: where the unit numbered ``number`` came from."""
        return f"{self.source} {self.unit} {number}"


class _JsonLines(Decoder):
    """A JSON Lines file: a unit is one line's bytes."""

    __slots__ = ()

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.context = b"jsonl"
        self.verbatim = True

    def decode(self, raw: bytes, number: int) -> Any:
        try:
            return loads_strict(raw)
        except ValueError as err:
            return RowError(f"{self.source} line {number}: not valid JSON ({json_problem(err)})")

    def fingerprint(self, raw: bytes) -> bytes:
        return raw


class _Cells(Decoder):
    """A CSV file after its header (a unit is one row's cells), or a query's result (a unit is one row's
    tuple of values).

    :param names: the header's column names, or the query's.
    :param empty_is_null: an empty cell is ``None`` (CSV).
    """

    __slots__ = ("empty_is_null", "names")

    def __init__(self, source: str, unit: str, names: list[str], *, empty_is_null: bool) -> None:
        super().__init__(source, unit)
        self.names = names
        self.empty_is_null = empty_is_null
        self.context = marshal.dumps((unit, empty_is_null, names), 0)

    def decode(self, raw: Any, number: int) -> Any:
        if self.empty_is_null:
            return {key: (value if value != "" else None) for key, value in zip(self.names, raw, strict=True)}
        return dict(zip(self.names, raw, strict=True))

    def fingerprint(self, raw: Any) -> bytes | None:
        return stable_bytes(raw)


#: A unit: ``(decoder, number, raw)``.
Unit = tuple[Decoder, int, Any]


class SourceRows:
    """The rows of a source, read lazily, and where the row read last came from.

    Iterate it for rows, or take its :meth:`units` (one or the other: the source is read once).

    :param units: the units of the source (a generator: :meth:`close` releases its file or cursor).
    """

    def __init__(self, units: Iterator[Unit]) -> None:
        self._units = units
        self._last: Unit | None = None

    def __iter__(self) -> SourceRows:
        return self

    def __next__(self) -> Any:
        unit = self._last = next(self._units)
        decoder, number, raw = unit
        return decoder.decode(raw, number)

    def units(self) -> Iterator[Unit]:
        """The units themselves, undecoded (see :class:`Decoder`)."""
        return self._units

    def location(self) -> str:
        """``"export.csv line 12"``, ``"the source query row 7"``...: where the last row came from."""
        if self._last is None:
            return ""
        return self._last[0].where(self._last[1])

    def close(self) -> None:
        close = getattr(self._units, "close", None)
        if close is not None:
            close()


def _duplicates(names: Iterable[Any]) -> list[str]:
    seen: set[Any] = set()
    twice: list[str] = []
    for name in names:
        if name in seen and str(name) not in twice:
            twice.append(str(name))
        seen.add(name)
    return twice


def _refuse_duplicates(names: list[Any], where: str, hint: str) -> None:
    twice = _duplicates(names)
    if twice:
        raise ExpertSenderSourceError(
            f"{where} has duplicate column names: {', '.join(map(repr, twice))}. Each column needs its own "
            f"name, or all but one of their values would be lost; {hint}"
        )


# ------------------------------------------------------------------------------------------------- records


def _literal(text: str) -> Any:
    """:func:`ast.literal_eval` of ``text``, refusing a dict literal that names a key twice (the last would
    silently win, as in JSON)."""
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            counts = Counter(key.value for key in node.keys if isinstance(key, ast.Constant))
            twice = sorted(repr(key) for key, count in counts.items() if count > 1)
            if twice:
                raise ExpertSenderConfigError(
                    f"The records argument is a Python literal with a key given twice in one dict: "
                    f"{', '.join(twice)}."
                )
    return ast.literal_eval(tree)


def records_rows(records: Any) -> Iterable[Any]:
    """The rows of an in-memory ``records`` argument (a list, an XCom value, a rendered JSON string).

    A dict is one record. A string (what a Jinja template renders to) must hold a JSON list or object, or the
    Python literal of one: ``"{{ ti.xcom_pull('extract') }}"`` renders the list's ``repr``, which
    :func:`ast.literal_eval` reads back safely (literals only, no code).
    """
    if isinstance(records, (str, bytes)):
        try:
            records = loads_strict(records)
        except DuplicateKeyError as err:
            raise ExpertSenderConfigError(f"The records argument is JSON with a {err}.") from None
        except ValueError:
            try:
                records = _literal(records.decode() if isinstance(records, bytes) else records)
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


def _jsonl_units(handle: IO[bytes], name: str) -> Iterator[Unit]:
    decoder = _JsonLines(name)
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
                yield from _json_array_units(line + handle.read(), name)
                return
            first = False
        if not line.strip():
            continue
        yield decoder, number, line


def _json_array_units(data: bytes, name: str) -> Iterator[Unit]:
    log.warning("%s holds one JSON array, not JSON Lines: it is read whole into memory.", name)
    try:
        items = loads_strict(data)
    except ValueError as err:
        # Not one bad row: none of the file's records can be read (counting it as one invalid record would
        # let max_rejected pass a whole file that was never sent).
        raise ExpertSenderSourceError(
            f"{name}: the JSON array is not valid JSON ({json_problem(err)}); none of its records was read. "
            "Fix the file, or write it as JSON Lines (one object per line: a bad line is then one invalid "
            "record)."
        ) from None
    decoder = Decoder(name, "item")
    for number, item in enumerate(items if isinstance(items, list) else [items], 1):
        yield decoder, number, item


class _Lines:
    """A file's lines decoded one by one, so bad UTF-8 is reported at its own line (line endings kept).

    A line that is not UTF-8 is decoded with replacement characters and remembered in :attr:`bad`, so the CSV
    row holding it can be reported as invalid while the rest of the file is read on.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self._lines = enumerate(iter(handle.readline, b""), 1)
        self.bad: list[int] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        number, raw = next(self._lines)
        try:
            return raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            self.bad.append(number)
            return raw.decode("utf-8", "replace")


def _csv_units(handle: IO[bytes], name: str, delimiter: str) -> Iterator[Unit]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    lines = _Lines(handle)
    # strict: an unclosed quote is an error at the end of the file, never rows silently merged into one cell.
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise ExpertSenderSourceError(f"{name} line 1: the header is not readable CSV ({err}).") from None
    if header is None:
        return
    if lines.bad:
        raise ExpertSenderSourceError(f"{name} line 1: the header is not UTF-8 text. Save the file as UTF-8.")
    _refuse_duplicates(header, f"{name} (header)", "rename them in the file.")
    decoder = _Cells(name, "line", header, empty_is_null=True)
    refused = Decoder(name)
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if str(err) == "unexpected end of data":  # a quote still open at the end of the file
                raise ExpertSenderSourceError(
                    f"{name} line {start}: broken CSV ({err}): a quote opened there is never closed, so the "
                    "rest of the file cannot be split into rows. Nothing after it was read."
                ) from None
            lines.bad.clear()
            error = RowError(f"{name} line {start}: broken CSV ({err}); check the quoting of that line")
            yield refused, start, error
            continue
        if lines.bad:
            bad, lines.bad[:] = lines.bad[0], []
            error = RowError(
                f"{name} line {bad}: not UTF-8 text (shown with replacement characters); save the file as "
                "UTF-8",
                dict(zip(header, row, strict=False)),
            )
            yield refused, start, error
            continue
        if len(row) != width:
            if not row:
                continue
            error = RowError(
                f"{name} line {start}: {len(row)} fields, the header has {width}",
                dict(zip(header, row, strict=False)),
            )
            yield refused, start, error
            continue
        yield decoder, start, row


def _parquet_units(handle: IO[bytes], name: str) -> Iterator[Unit]:
    try:
        import pyarrow.parquet as pq
        from pyarrow import ArrowException
    except ImportError as err:
        raise ExpertSenderConfigError(
            "Reading Parquet needs pyarrow: pip install 'airflow-provider-expertsender[parquet]'."
        ) from err
    decoder = Decoder(name, "row")
    try:
        parquet = pq.ParquetFile(handle)
        _refuse_duplicates(parquet.schema_arrow.names, f"{name} (Parquet schema)", "rename them in the file.")
        batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS)
        number = 0
        for batch in batches:
            try:
                rows = batch.to_pylist()
            except (ArrowException, ValueError, OverflowError):
                rows = list(_parquet_rows_one_by_one(batch, name, number))
            for row in rows:
                number += 1
                yield decoder, number, row
    except ArrowException as err:
        raise ExpertSenderSourceError(
            f"{name}: not a readable Parquet file ({type(err).__name__}). Nothing after that point was read."
        ) from None


def _parquet_rows_one_by_one(batch: Any, name: str, before: int) -> Iterator[Any]:
    """The rows of a batch whose conversion failed, converted one by one: the bad ones become RowError."""
    for offset in range(batch.num_rows):
        try:
            yield batch.slice(offset, 1).to_pylist()[0]
        except Exception as err:  # what pyarrow raises on a value Python cannot hold varies by type
            yield RowError(f"{name} row {before + offset + 1}: a value cannot be read ({type(err).__name__})")


def file_rows(path: Any) -> SourceRows:
    """The rows of one file (see the module docstring for the formats)."""
    return SourceRows(_file_units(path))


def _file_units(path: Any) -> Iterator[Unit]:
    fmt, compressed = _format_of(path.name)
    name = display(path)
    try:
        with path.open("rb") as raw:
            handle: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
            if fmt == "jsonl":
                yield from _jsonl_units(handle, name)
            elif fmt == "parquet":
                yield from _parquet_units(handle, name)
            else:
                yield from _csv_units(handle, name, "\t" if fmt == "tsv" else ",")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ExpertSenderSourceError(
            f"{name}: the compressed file is truncated or corrupt ({type(err).__name__}). Nothing after the "
            "damaged part was read."
        ) from None


def files_rows(source_path: Any, logger: Any = None) -> SourceRows:
    """The rows of every file of ``source_path`` (:func:`list_files`), file after file."""
    return SourceRows(_files_units(source_path, logger or log))


def _files_units(source_path: Any, out: Any) -> Iterator[Unit]:
    files = list_files(source_path)
    if not files:
        out.warning(
            "source_path %s holds no file with a known suffix: nothing to read.", display(source_path)
        )
    elif len(files) > 1:
        out.info("Reading %d files from %s.", len(files), display(source_path))
    for path in files:
        out.info("Reading %s.", display(path))
        yield from _file_units(path)


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


def sql_rows(sql: str, sql_conn_id: str, logger: Any = None) -> SourceRows:
    """The rows of ``sql`` run on the Airflow connection ``sql_conn_id``, as dicts keyed by column name.

    :raises ExpertSenderConfigError: the connection's hook is not a SQL (DB-API) hook.
    :raises ExpertSenderSourceError: the query returns two columns of one name.
    """
    return SourceRows(_sql_units(sql, sql_conn_id, logger or log))


def _sql_units(sql: str, sql_conn_id: str, out: Any) -> Iterator[Unit]:
    from airflow_provider_expertsender import _compat

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
            _refuse_duplicates(
                names,
                "The source query's result",
                "give each selected column its own name (SELECT a.email AS email, b.email AS b_email ...).",
            )
            decoder = _Cells("the source query", "row", names, empty_is_null=False)
            number = 0
            while rows:
                for row in rows:
                    number += 1
                    yield decoder, number, row
                rows = cursor.fetchmany(FETCH_SIZE)
    finally:
        try:
            connection.rollback()  # end the read transaction; nothing was written
        except Exception:
            log.debug("rollback after the source query failed", exc_info=True)
        connection.close()
