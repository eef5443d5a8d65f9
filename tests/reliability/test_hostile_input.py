"""Hostile and malformed input: every record validates or is named as invalid; nothing invalid is ever sent.

* Property tests (hypothesis) over the payload models *and the API*: whatever the models accept, the emulator
  (which enforces the documented limits and the business unit's settings) accepts too, so an invalid record
  never costs a request; whatever they refuse is named by position and field.
* The bulk engine under any mix of records, non-records and garbage: counts add up, the API refuses nothing.
* Unicode edge cases (IDN e-mail domains, RTL text, emoji, combining marks, NUL, lone surrogates) and length
  boundaries survive the round trip unchanged or are refused locally.
* Files: CSV with broken quoting, invalid UTF-8 and oversized fields, JSON Lines with bad lines, a truncated
  gzip; SQL rows with NULLs and unexpected types (PostgreSQL). Every input row is accounted for: stored, or
  reported (dead-letter file / a typed error naming the file), never silently dropped or merged into another.
"""

from __future__ import annotations

import gzip
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_expertsender.exceptions import (
    ExpertSenderError,
    ExpertSenderInvalidRecordError,
)

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- values that break things --------------------------------------------------------------------------------

EDGE_TEXT = [
    "",
    " ",
    "\x00",
    "Zoe\u0301",  # combining acute accent
    "\u202eevil\u202c",  # right-to-left override
    "مريم",  # Arabic (RTL)
    "שלום",  # Hebrew (RTL)
    "👩\u200d💻",  # ZWJ emoji sequence
    "🎉" * 129,  # 129 astral characters: 258 UTF-16 code units
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "\ufeff",
    "a\r\nX-Injected: 1",
    "x" * 256,
    "x" * 257,
    "'; DROP TABLE customers; --",
    "{{ conn.expertsender_default.password }}",
]
EDGE_EMAILS = [
    "jane@example.com",
    "JANE@EXAMPLE.COM",
    "jane@bücher.example",  # IDN domain, Unicode form
    "jane@xn--bcher-kva.example",  # IDN domain, punycode
    "δοκιμή@παράδειγμα.δοκιμή",
    "用户@例子.广告",
    "مستخدم@مثال.إختبار",
    "😀@example.com",
    "a@b",
    "@example.com",
    "jane@",
    "jane doe@example.com",
    "jane@exa\u0000mple.com",
    "x" * 308 + "@example.com",  # 320 characters
    "x" * 309 + "@example.com",  # 321 characters
    "../customers@example.com",
    "a%2Fb@example.com",
    "?#@example.com",
]
HOSTILE_SCALARS = st.one_of(
    st.sampled_from(EDGE_TEXT),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.decimals(),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def mostly(plausible: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any] = HOSTILE_SCALARS) -> Any:
    """A plausible value nineteen times in twenty, a hostile one otherwise: with up to ten fields per record,
    about half the records are valid (they exercise the API), half are broken (they exercise the refusals).
    """
    # Hypothesis favours boundary values (0 and 19 here): the hostile branch sits in the middle.
    return st.integers(0, 19).flatmap(lambda k: hostile if k == 7 else plausible)


def _attribute_values() -> st.SearchStrategy[Any]:
    """Customer attributes named after the emulator's seeds (local validation knows them from the catalog),
    each with values of its type or hostile ones; sometimes an attribute the business unit does not have."""
    typed = {
        "points": st.one_of(st.integers(-(10**9), 10**9), st.decimals(-1000, 1000, places=3)),
        "lifetime_value": st.decimals(0, 10**6, places=2),
        "signup_date": st.dates(),
        "last_login": st.datetimes(timezones=st.just(timezone.utc)),
        "newsletter_opt_in": st.booleans(),
        "profile_url": st.sampled_from(["https://x.example/p?a=1", "http://bücher.example/", "ftp://x"]),
        "notes": st.text(max_size=300),
        "city": st.text(max_size=60),
        # SingleSelect options are not published by the API: only its documented options are used.
        "loyalty_tier": st.sampled_from(["gold", "silver", "bronze"]),
    }
    optional = {name: mostly(value) for name, value in typed.items() if name != "loyalty_tier"}
    optional["loyalty_tier"] = typed["loyalty_tier"]
    unknown = st.fixed_dictionaries({"unknown_attribute": st.text(max_size=5)})
    return st.builds(
        lambda a, b: {**a, **b}, st.fixed_dictionaries({}, optional=optional), mostly(st.just({}), unknown)
    )


VALID_EDGE_EMAILS = [e for e in EDGE_EMAILS if e.count("@") == 1 and " " not in e and len(e) <= 320]


def _customer_records() -> st.SearchStrategy[Any]:
    email = mostly(st.one_of(st.emails(), st.sampled_from(VALID_EDGE_EMAILS)), st.sampled_from(EDGE_EMAILS))
    text = st.one_of(st.text(max_size=80), st.sampled_from(EDGE_TEXT))
    known = st.fixed_dictionaries(
        {"email": email},
        optional={
            "first_name": mostly(text),
            "lastName": mostly(text),
            "phone": mostly(st.from_regex(r"\+?[0-9]{3,19}", fullmatch=True)),
            "crm_id": mostly(st.one_of(st.text(min_size=1, max_size=128), st.integers(0, 2**63))),
            "visitorId": mostly(st.uuids().map(str)),
            "gender": mostly(st.sampled_from(["male", "Female", "NOTSPECIFIED", "not_specified"])),
            "date_of_birth": mostly(st.one_of(st.dates(), st.datetimes(timezones=st.just(timezone.utc)))),
            "custom_attributes": mostly(_attribute_values()),
            "consents": mostly(
                st.dictionaries(
                    st.sampled_from([1, 2, 3]),
                    st.sampled_from([True, False, "AwaitingConfirmation", "True", "false"]),
                    max_size=3,
                ),
                st.dictionaries(st.sampled_from([1, 99, "x"]), HOSTILE_SCALARS, max_size=2),
            ),
        },
    )
    unexpected = mostly(st.just({}), st.fixed_dictionaries({"unexpected_key": HOSTILE_SCALARS}))
    return st.builds(lambda a, b: {**a, **b}, known, unexpected)


def _anything() -> st.SearchStrategy[Any]:
    """Records, and now and then something that is not a record at all."""
    return st.one_of(_customer_records(), _customer_records(), _customer_records(), HOSTILE_SCALARS)


@pytest.fixture
def catalog(emulator: Any, make_hook: Callable[..., Any]) -> Any:
    """The emulator's settings lists, as the operators read them with ``validate_against_settings=True``."""
    from airflow_provider_expertsender.models import SettingsCatalog

    hook = make_hook("es_catalog")
    return SettingsCatalog.from_lists(
        customer_attributes=hook.list_customer_attributes(), consents=hook.list_consents()
    )


def outcome(call: Callable[[], Any], errors: type[BaseException]) -> tuple[Any, Any]:
    """``(result, None)`` or ``(None, the error)`` when ``call`` raises one of ``errors``; anything else
    propagates (and fails the test)."""
    try:
        return call(), None
    except errors as err:
        return None, err


def _classify(records: list[Any], catalog: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """(valid payloads, positions of invalid records); asserts each refusal names its record and a field."""
    from airflow_provider_expertsender.models import customer_payload

    valid, invalid = [], []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        payload, err = outcome(
            lambda: customer_payload(record, match_by="Email", index=index, settings=catalog),  # noqa: B023
            ExpertSenderInvalidRecordError,
        )
        if err is not None:
            assert err.record.index == index
            assert err.record.problems
            assert all(p.field and p.rule for p in err.record.problems)
            assert f"record #{index}" in err.message
            invalid.append(index)
            continue
        json.dumps(payload, allow_nan=False).encode("utf-8")  # JSON- and UTF-8-safe
        valid.append(payload)
    return valid, invalid


# -- the models and the API agree ----------------------------------------------------------------------------


@PROPERTY
@given(records=st.lists(_customer_records(), min_size=1, max_size=8))
def test_what_the_models_accept_the_api_accepts(
    records: list[Any], emulator: Any, make_hook: Callable[..., Any], catalog: Any
) -> None:
    valid, invalid = _classify(records, catalog)
    event(f"{len(valid)} valid, {len(invalid)} invalid")
    if not valid:
        return
    # One e-mail per request (the API keys customers by it; a second write of it in a batch is an update).
    unique = list({p["email"].lower(): p for p in valid}.values())
    hook = make_hook("es_props")
    result = hook.upsert_customers(unique)  # a 400 raises ExpertSenderValidationError and fails the test
    assert result.item_errors == ()


@PROPERTY
@given(records=st.lists(_anything(), max_size=12))
def test_the_engine_never_sends_an_invalid_record(
    records: list[Any], emulator: Any, make_hook: Callable[..., Any], catalog: Any
) -> None:
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook("es_engine_props")
    before = len(emulator.requests)
    summary = run_write(
        hook,
        resource="customers",
        records=records,
        mode="AddOrUpdate",
        batch_size=5,
        on_invalid="skip",
        max_rejected=len(records),
        settings=catalog,
    )
    assert summary["read"] == len(records)
    assert summary["invalid"] + summary["accepted"] == len(records)
    assert summary["rejected"] == 0
    statuses = [r.status for r in emulator.requests[before:]]
    assert all(status == 201 for status in statuses), statuses


# -- unicode round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EDGE_TEXT, ids=lambda s: repr(s)[:24])
def test_names_round_trip_unchanged_or_are_refused_locally(
    name: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    from airflow_provider_expertsender.models import customer_payload

    record = {"email": "edge@example.com", "first_name": name}
    payload, err = outcome(lambda: customer_payload(record, match_by="Email"), ExpertSenderInvalidRecordError)
    if err is not None:
        assert [p.field for p in err.record.problems] == ["firstName"]
        assert len(name) > 256 or "\ud800" in name, f"refused a legitimate name: {err.message}"
        return
    hook = make_hook()
    hook.upsert_customers([payload])
    assert hook.get_customer(email="edge@example.com")["firstName"] == name


@pytest.mark.parametrize("email", EDGE_EMAILS, ids=lambda s: repr(s)[:24])
def test_emails_round_trip_through_the_url_or_are_refused_locally(
    email: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    from airflow_provider_expertsender.models import customer_payload

    payload, err = outcome(
        lambda: customer_payload({"email": email}, match_by="Email"), ExpertSenderInvalidRecordError
    )
    if err is not None:
        assert [p.field for p in err.record.problems] == ["email"]
        return
    hook = make_hook()
    hook.upsert_customers([payload])
    # The address is a path segment of GET /customers/email/{value}: it must arrive whole.
    assert hook.get_customer(email=email)["email"] == payload["email"]
    assert emulator.requests[-1].route == "/customers/email/{value}"


WRONG_TYPES = {
    "first_name": (12345, "firstName"),
    "email": (["jane@example.com"], "email"),
    "date_of_birth": ("1990-02-30", "dateOfBirth"),
    "gender": ("robot", "gender"),
    "custom_attributes": ("loyalty=gold", "customAttributes"),
    "consents": ({"x": "maybe"}, "consentsData.consents[0]"),
    "phone": ("+48 600 100 200", "phone"),
    "crm_id": (1.5, "crmId"),
    "visitor_id": ("v" * 39, "visitorId"),
}


@pytest.mark.parametrize("key", list(WRONG_TYPES))
def test_wrong_types_name_the_field(key: str) -> None:
    from airflow_provider_expertsender.models import customer_payload

    value, field = WRONG_TYPES[key]
    with pytest.raises(ExpertSenderInvalidRecordError) as info:
        customer_payload({"email": "jane@example.com", key: value}, match_by="Email", index=41)
    assert info.value.record.index == 41
    assert any(p.field.startswith(field) for p in info.value.record.problems), info.value.record.problems
    who = "record #41" if key == "email" else "record #41 (jane@example.com)"
    assert who in info.value.message


# -- files ---------------------------------------------------------------------------------------------------


def _sync_file(path: Path, make_hook: Callable[..., Any], tmp_path: Path) -> tuple[dict[str, Any], list[Any]]:
    """Write a file's rows as customers (on_invalid="skip"); return the summary and the dead letters."""
    from airflow_provider_expertsender.sync import run_write, sources
    from airflow_provider_expertsender.sync.mapping import RowMapper

    dead = tmp_path / "dead.jsonl"
    summary = run_write(
        make_hook(),
        resource="customers",
        records=RowMapper("customers").map(sources.files_rows(path)),
        mode="AddOrUpdate",
        on_invalid="skip",
        max_rejected=100,
        dead_letter_path=str(dead),
    )
    letters = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []
    return summary, letters


def _accounted(emulator: Any, letters: list[Any], emails: list[str]) -> None:
    """Every e-mail of the input is stored (as its own customer) or in the dead-letter file."""
    stored = {c["email"]: c for c in emulator.store(emulator.api_key).customers}
    dead = json.dumps([line["record"] for line in letters])
    for email in emails:
        assert email in stored or email in dead, f"{email} was neither stored nor reported"
    for customer in stored.values():
        for email in emails:
            assert email == customer["email"] or email not in json.dumps(customer), (
                f"{email} was merged into the record of {customer['email']}"
            )


def test_jsonl_with_bad_lines(emulator: Any, make_hook: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"email": "a@x.example", "first_name": "Ann"}\n'
        b'{"email": "b@x.example", "first_name": \n'  # cut off
        b'{"email": "c\xff@x.example"}\n'  # invalid UTF-8
        b"[1, 2]\n"
        b"42\n"
        b"\n"
        b'{"email": "d@x.example", "first_name": "Dan"}\n'
    )
    summary, letters = _sync_file(path, make_hook, tmp_path)
    assert (summary["read"], summary["accepted"], summary["invalid"]) == (6, 2, 4)
    assert [line["position"] for line in letters] == [1, 2, 3, 4]
    reasons = [line["reason"] for line in letters]
    assert "line 2: not valid JSON" in reasons[0]
    assert "line 3: not valid JSON" in reasons[1]
    assert all(line["stage"] == "validation" for line in letters)
    assert sorted(c["email"] for c in emulator.store(emulator.api_key).customers) == [
        "a@x.example",
        "d@x.example",
    ]


def test_csv_with_ragged_rows_and_stray_quotes(
    emulator: Any, make_hook: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "email,first_name\n"
        "a@x.example,Ann\n"
        'b@x.example,Bo"b\n'  # a quote inside an unquoted field is data
        "c@x.example,Cid,extra\n"  # one field too many
        "d@x.example\n"  # one field short
        '"e@x.example","Eve ""the"" Great"\n'
        '"f@x.example","multi\nline"\n',
        encoding="utf-8",
    )
    _, letters = _sync_file(path, make_hook, tmp_path)
    stored = {c["email"]: c["firstName"] for c in emulator.store(emulator.api_key).customers}
    assert stored == {
        "a@x.example": "Ann",
        "b@x.example": 'Bo"b',
        "e@x.example": 'Eve "the" Great',
        "f@x.example": "multi\nline",
    }
    assert [line["position"] for line in letters] == [2, 3]
    assert "line 4: 3 fields, the header has 2" in letters[0]["reason"]
    _accounted(emulator, letters, [f"{c}@x.example" for c in "abcdef"])


def test_csv_with_an_unclosed_quote_loses_no_row(
    emulator: Any, make_hook: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        'email,first_name\na@x.example,Ann\nb@x.example,"Bob\nc@x.example,Cid\nd@x.example,Dan\n',
        encoding="utf-8",
    )
    _, err = outcome(lambda: _sync_file(path, make_hook, tmp_path), ExpertSenderError)
    if err is not None:  # refusing the file, naming it and the line, is an acceptable outcome
        assert "in.csv" in err.message
        assert "line" in err.message
        return
    _accounted(
        emulator, [json.loads(x) for x in _dead(tmp_path)], ["a@x.example", "c@x.example", "d@x.example"]
    )


def _dead(tmp_path: Path) -> list[str]:
    dead = tmp_path / "dead.jsonl"
    return dead.read_text().splitlines() if dead.exists() else []


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


HOSTILE_FILES: dict[str, tuple[str, bytes]] = {
    "csv with invalid UTF-8": (
        "in.csv",
        b"email,first_name\na@x.example,Ann\nb@x.example,B\xffob\nc@x.example,Cid\n",
    ),
    "csv field over the csv module's limit": (
        "in.csv",
        b"email,first_name\na@x.example,Ann\nb@x.example," + b"x" * 200_000 + b"\nc@x.example,Cid\n",
    ),
    # Cut in the middle of the deflate stream (the whole file compresses to under 200 bytes).
    "truncated gzip": ("in.jsonl.gz", _half(gzip.compress(b'{"email": "a@x.example"}\n' * 2000))),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
def test_unreadable_files_fail_with_the_projects_error_naming_the_file(
    case: str, emulator: Any, make_hook: Callable[..., Any], tmp_path: Path
) -> None:
    name, content = HOSTILE_FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    _, err = outcome(lambda: _sync_file(path, make_hook, tmp_path), Exception)
    if err is not None:
        assert isinstance(err, ExpertSenderError), (
            f"{type(err).__module__}.{type(err).__name__} escaped: {err}"
        )
        assert name in err.message
        return
    # Read on: every row is stored or reported (the oversized cell is refused by the models).
    letters = [json.loads(line) for line in _dead(tmp_path)]
    assert letters, "the file was read without an error and nothing was reported"
    _accounted(emulator, letters, ["a@x.example", "b@x.example", "c@x.example"])


@pytest.mark.parametrize("bad_line", [3, 400])
def test_invalid_utf8_in_a_csv_names_its_line(bad_line: int, tmp_path: Path) -> None:
    """The bad row names its line, and the rows after it are read on (issue 11, finding 7)."""
    from airflow_provider_expertsender.sync import sources
    from airflow_provider_expertsender.sync.mapping import RowError

    lines = [b"email,first_name"] + [b"r%d@x.example,Name %d" % (i, i) for i in range(2, 1000)]
    lines[bad_line - 1] = b"bad@x.example,B\xffob"
    path = tmp_path / "in.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    rows = list(sources.file_rows(path))
    assert len(rows) == 998
    [bad] = [row for row in rows if isinstance(row, RowError)]
    assert f"in.csv line {bad_line}: not UTF-8" in bad.reason, bad.reason


# -- SQL rows with NULLs and unexpected types ----------------------------------------------------------------


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def pg_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not _postgres_up():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg2

    table = f"es_rel_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            f"""CREATE TABLE {table} (
                n int, email text, first_name text, last_name bytea, crm_id bigint, date_of_birth date,
                visitor_id uuid, attr_points numeric, attr_last_login timestamptz, custom_attributes jsonb,
                phone text)"""
        )
        cur.execute(
            f"""INSERT INTO {table} VALUES
            (0, 'a@x.example', 'Ann', NULL, 10042, '1990-04-02', NULL, 12.50, '2025-01-02 03:04:05+02',
             NULL, NULL),
            (1, NULL, 'No e-mail', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (2, 'c@x.example', NULL, '\\x00ff', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, 'd@x.example', 'Dan', NULL, 9223372036854775807, NULL, NULL, NULL, NULL,
             '{{"city": "Gdańsk", "points": 3}}', NULL),
            (4, 'e@x.example', 'Eve', NULL, NULL, '0001-01-01', NULL, 'NaN', NULL, NULL, '+48 600 100 200'),
            (5, 'f@x.example', E'F\\u00e9lix \\u202e', NULL, NULL, NULL, NULL, NULL, NULL, '[1, 2]', NULL),
            (6, 'g@x.example', E'G\\u00fcl \\u202e\\u05e9', NULL, NULL, NULL,
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, NULL, NULL, NULL)"""
        )
    monkeypatch.setenv("AIRFLOW_CONN_ES_REL_PG", "postgres://postgres@127.0.0.1:5432/test")
    yield f"SELECT * FROM {table} ORDER BY n"
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()


@pytest.mark.postgres
def test_sql_rows_with_nulls_and_unexpected_types(
    pg_rows: str, emulator: Any, make_hook: Callable[..., Any], tmp_path: Path
) -> None:
    from airflow_provider_expertsender.sync import run_write, sources
    from airflow_provider_expertsender.sync.mapping import RowMapper

    dead = tmp_path / "dead.jsonl"
    rows = sources.sql_rows(pg_rows, "es_rel_pg")
    summary = run_write(
        make_hook(),
        resource="customers",
        records=RowMapper("customers", field_map={"n": "n_ignored"}, row_mapper=_drop_n).map(rows),
        mode="AddOrUpdate",
        on_invalid="skip",
        max_rejected=10,
        dead_letter_path=str(dead),
    )
    letters = {line["position"]: line for line in map(json.loads, dead.read_text().splitlines())}
    stored = {c["email"]: c for c in emulator.store(emulator.api_key).customers}
    # Row 0: every type converted (bigint -> string, date -> ISO date-time, numeric/timestamptz attributes).
    ann = stored["a@x.example"]
    assert (ann["firstName"], ann["crmId"], ann["dateOfBirth"][:10]) == ("Ann", "10042", "1990-04-02")
    attrs = {a["name"]: a["value"] for a in ann["customAttributes"]}
    assert float(attrs["points"]) == 12.5
    assert attrs["last_login"].startswith("2025-01-02T01:04:05")
    # Row 3: the largest bigint as a CRM id, a jsonb object as attributes.
    dan = stored["d@x.example"]
    assert dan["crmId"] == "9223372036854775807"
    assert {a["name"]: a["value"] for a in dan["customAttributes"]} == {"city": "Gdańsk", "points": "3"}
    # Row 6: a uuid column (uuid.UUID on Airflow 3's postgres provider, str on 2.10's) is a visitor id.
    assert stored["g@x.example"]["visitorId"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    # Every other row is named, with the field that broke: NULL e-mail (match_by Email), bytea in a text
    # column, NaN in a number attribute and spaces in a phone, a jsonb list as attributes.
    expected = {1: "email", 2: "lastName", 4: "phone", 5: "customAttributes[0]"}
    assert sorted(letters) == sorted(expected)
    for position, field in expected.items():
        assert field in letters[position]["reason"], letters[position]["reason"]
        assert letters[position]["stage"] == "validation"
    assert summary["read"] == 7
    assert summary["accepted"] == 7 - len(expected)
    assert summary["rejected"] == 0


@pytest.mark.parametrize("field", ["visitor_id", "crm_id"])
def test_a_uuid_is_an_identifier(field: str) -> None:
    """Integers stand for string identifiers (crm ids from integer columns); a UUID should too: it is what a
    uuid column gives, and its text form is unambiguous."""
    from airflow_provider_expertsender.models import customer_payload

    value = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    payload = customer_payload({"email": "u@example.com", field: value}, match_by="Email")
    assert payload[{"visitor_id": "visitorId", "crm_id": "crmId"}[field]] == str(value)


def _drop_n(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("n_ignored", None)
    return row
