"""Sources: in-memory records, JSON Lines / CSV / Parquet files (local and through ObjectStoragePath), SQL."""

from __future__ import annotations

import gzip
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.sync import sources
from airflow_provider_expertsender.sync.mapping import RowError

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- records


def test_records_rows_accepts_lists_dicts_and_json_strings():
    assert list(sources.records_rows([{"a": 1}])) == [{"a": 1}]
    assert list(sources.records_rows({"a": 1})) == [{"a": 1}]
    assert list(sources.records_rows('[{"a": 1}, {"a": 2}]')) == [{"a": 1}, {"a": 2}]
    # A Python repr, what "{{ ti.xcom_pull(...) }}" renders without native rendering.
    assert list(sources.records_rows("[{'a': 1, 'b': None, 'c': True}]")) == [{"a": 1, "b": None, "c": True}]
    with pytest.raises(ExpertSenderConfigError, match="render_template_as_native_obj"):
        sources.records_rows("[{'when': datetime.date(2025, 1, 1)}]")  # not a literal: never evaluated
    with pytest.raises(ExpertSenderConfigError):
        sources.records_rows("__import__('os').getcwd()")
    with pytest.raises(ExpertSenderConfigError):
        sources.records_rows(42)


# --------------------------------------------------------------------------------------------------- files


def test_json_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"n": 1}\n\n{"n": 2}\n{oops\n{"n": 3}')

    rows = list(sources.files_rows(str(path)))

    assert rows[:2] == [{"n": 1}, {"n": 2}]
    assert isinstance(rows[2], RowError)
    assert rows[2].reason.startswith(f"{path} line 4: not valid JSON")
    assert rows[3] == {"n": 3}


def test_json_array_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"n": 1},\n {"n": 2}]')
    assert list(sources.files_rows(str(path))) == [{"n": 1}, {"n": 2}]


def test_csv_and_tsv(tmp_path):
    (tmp_path / "a.csv").write_text(
        '\ufeffemail,first_name,attr_city\na@x.com,"Doe, Jane",\nb@x.com,,Oslo\nc@x.com,only two\n'
    )
    (tmp_path / "b.tsv").write_text("email\tfirst_name\nd@x.com\tD\n")

    rows = list(sources.files_rows(str(tmp_path)))

    assert rows[0] == {"email": "a@x.com", "first_name": "Doe, Jane", "attr_city": None}
    assert rows[1] == {"email": "b@x.com", "first_name": None, "attr_city": "Oslo"}
    assert isinstance(rows[2], RowError)
    assert "line 4: 2 fields, the header has 3" in rows[2].reason
    assert rows[3] == {"email": "d@x.com", "first_name": "D"}


def test_gzip(tmp_path):
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.write('{"n": 1}\n{"n": 2}\n')
    with gzip.open(tmp_path / "b.csv.gz", "wt") as handle:
        handle.write("n\n3\n")
    assert list(sources.files_rows(str(tmp_path))) == [{"n": 1}, {"n": 2}, {"n": "3"}]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (the [parquet] extra)")
    import pyarrow.parquet as pq

    table = pa.table({"email": [f"u{i}@x.com" for i in range(10_000)], "points": list(range(10_000))})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=1000)

    rows = list(sources.files_rows(str(tmp_path / "a.parquet")))

    assert len(rows) == 10_000
    assert rows[9_999] == {"email": "u9999@x.com", "points": 9999}


def test_folder_is_read_recursively_in_order_skipping_markers(tmp_path):
    jsonl(tmp_path / "b.jsonl", [{"f": "b"}])
    (tmp_path / "dt=1").mkdir()
    jsonl(tmp_path / "dt=1" / "a.jsonl", [{"f": "dt1/a"}])
    jsonl(tmp_path / "a.ndjson", [{"f": "a"}])
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "_tmp").mkdir()
    jsonl(tmp_path / "_tmp" / "x.jsonl", [{"f": "temporary"}])
    jsonl(tmp_path / ".hidden.jsonl", [{"f": "hidden"}])
    (tmp_path / "README.txt").write_text("not data")

    rows = list(sources.files_rows(str(tmp_path)))

    assert [r["f"] for r in rows] == ["a", "b", "dt1/a"]


def test_glob(tmp_path):
    for name in ("part-1.jsonl", "part-2.jsonl", "other.jsonl"):
        jsonl(tmp_path / name, [{"f": name}])
    rows = list(sources.files_rows(f"{tmp_path}/part-*.jsonl"))
    assert [r["f"] for r in rows] == ["part-1.jsonl", "part-2.jsonl"]


def test_object_storage_uri(tmp_path):
    jsonl(tmp_path / "a.jsonl", [{"n": 1}])
    with gzip.open(tmp_path / "b.csv.gz", "wt") as handle:
        handle.write("n\n2\n")
    assert list(sources.files_rows(f"file://{tmp_path}")) == [{"n": 1}, {"n": "2"}]
    assert list(sources.files_rows(f"file://{tmp_path}/a.jsonl")) == [{"n": 1}]


def test_missing_path_and_unknown_suffix(tmp_path):
    with pytest.raises(ExpertSenderConfigError, match="does not exist"):
        list(sources.files_rows(str(tmp_path / "nope.jsonl")))
    (tmp_path / "data.xml").write_text("<x/>")
    with pytest.raises(ExpertSenderConfigError, match="unknown file type"):
        list(sources.files_rows(str(tmp_path / "data.xml")))


def test_empty_folder_reads_nothing(tmp_path, caplog):
    assert list(sources.files_rows(str(tmp_path))) == []
    assert "nothing to read" in caplog.text


def test_files_are_streamed(tmp_path):
    path = jsonl(tmp_path / "a.jsonl", [{"n": i} for i in range(5)])
    rows = sources.files_rows(str(path))
    assert next(rows) == {"n": 0}
    rows.close()  # the file handle is released


# ----------------------------------------------------------------------------------------------------- SQL


@pytest.fixture
def sqlite_conn(tmp_path, monkeypatch) -> str:
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE customers (email TEXT, attr_city TEXT, points INTEGER)")
        con.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(f"u{i}@x.com", None if i % 2 else "Oslo", i) for i in range(5000)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_SQLITE_SRC", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return "sqlite_src"


def test_sqlite_query(sqlite_conn, monkeypatch):
    fetches: list[int] = []
    original = sqlite3.Cursor.fetchmany

    class CountingCursor(sqlite3.Cursor):
        def fetchmany(self, size: int = 1) -> list[Any]:
            fetches.append(size)
            return original(self, size)

    monkeypatch.setattr(sources, "FETCH_SIZE", 1000)
    monkeypatch.setattr(sources, "_streaming_cursor", lambda con: con.cursor(CountingCursor))

    rows = list(sources.sql_rows("SELECT * FROM customers ORDER BY points", sqlite_conn))

    assert len(rows) == 5000
    assert rows[0] == {"email": "u0@x.com", "attr_city": "Oslo", "points": 0}
    assert rows[1]["attr_city"] is None
    assert fetches == [1000] * 6  # read in windows, never fetchall


def test_sql_needs_a_select(sqlite_conn):
    with pytest.raises(ExpertSenderConfigError, match="SELECT"):
        list(sources.sql_rows("CREATE TABLE t (x INTEGER)", sqlite_conn))


def test_sql_needs_a_sql_connection(expertsender_conn):
    with pytest.raises(ExpertSenderConfigError, match="not a SQL connection"):
        list(sources.sql_rows("SELECT 1", expertsender_conn))


def _postgres_or_skip() -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        return psycopg2.connect(connect_timeout=2, **PG)
    except psycopg2.OperationalError as err:
        pytest.skip(f"PostgreSQL at {PG['host']}:{PG['port']} is unreachable: {err}".strip())


@pytest.fixture
def pg_table(monkeypatch) -> Any:
    con = _postgres_or_skip()
    table = f"es_src_{uuid.uuid4().hex[:8]}"
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} AS SELECT g AS n, 'u' || g || '@x.com' AS email, "
            "('{\"a\": ' || g || '}')::jsonb AS doc, g::numeric / 4 AS amount "
            "FROM generate_series(1, 20000) g"
        )
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG_SRC",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": PG["host"],
                "port": PG["port"],
                "login": PG["user"],
                "schema": PG["dbname"],
            }
        ),
    )
    yield table
    with con.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    con.close()


@pytest.mark.postgres
def test_postgres_uses_a_server_side_cursor(pg_table):
    from decimal import Decimal

    observer = _postgres_or_skip()
    observer.autocommit = True
    rows = sources.sql_rows(f"SELECT * FROM {pg_table} ORDER BY n", "pg_src")

    first = next(rows)
    with observer.cursor() as cur:
        cur.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND query LIKE %s",
            (PG["dbname"], "FETCH FORWARD%expertsender_%"),
        )
        fetching = cur.fetchall()
    rest = list(rows)
    observer.close()

    assert first == {"n": 1, "email": "u1@x.com", "doc": {"a": 1}, "amount": Decimal("0.25")}
    assert len(rest) == 19_999
    # The session reads the result window by window from a named (server-side) cursor.
    assert fetching, "no FETCH FORWARD from a named cursor seen in pg_stat_activity"
