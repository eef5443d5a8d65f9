"""ExpertSenderConnectionConfig: every connection form (JSON, URI with string extras, UI) -> typed config."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from airflow import __version__ as airflow_version
from airflow.models.connection import Connection
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from airflow_provider_expertsender import (
    CONN_FIELDS,
    DEFAULT_BASE_URL,
    HIDDEN_FIELDS,
    PLACEHOLDERS,
    RELABELING,
)
from airflow_provider_expertsender._compat import classic_form_parts
from airflow_provider_expertsender.connection import ExpertSenderConnectionConfig
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

KEY = "es-test-key-0123456789"


def config_of(host: str | None = "api.example.test", password: str | None = KEY, extra=None, port=None):
    extra_text = json.dumps(extra) if isinstance(extra, dict) else extra
    conn = Connection(
        conn_id="es_conf", conn_type="expertsender", host=host, password=password, extra=extra_text, port=port
    )
    return ExpertSenderConnectionConfig.from_connection(conn)


def redact(text: str) -> object:
    from airflow_provider_expertsender._compat import redact as _redact

    return _redact(text)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, DEFAULT_BASE_URL),
        ("", DEFAULT_BASE_URL),
        ("   ", DEFAULT_BASE_URL),
        ("api.ecdp.app", "https://api.ecdp.app"),
        ("https://api.ecdp.app/", "https://api.ecdp.app"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://proxy.example/ecdp/", "https://proxy.example/ecdp"),
    ],
)
def test_base_url(host, expected):
    assert config_of(host=host).base_url == expected


def test_port_field_is_appended_when_the_host_has_none():
    assert config_of(host="127.0.0.1", port=9000).base_url == "https://127.0.0.1:9000"
    assert config_of(host="http://127.0.0.1:8080", port=9000).base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "host", ["ftp://api.ecdp.app", "https://user:pw@api.ecdp.app", "https://h/?x=1", "http://"]
)
def test_bad_host_is_a_config_error(host):
    with pytest.raises(ExpertSenderConfigError, match="host"):
        config_of(host=host)


@pytest.mark.parametrize(
    "host", ["https://me:es-secret-in-host@api.ecdp.app:port", "https://[es-secret-in-host"]
)
def test_unparseable_host_is_not_echoed(host):
    """A key pasted into the host (with a bad port or bracket) must not reach the message."""
    with pytest.raises(ExpertSenderConfigError, match="not a valid URL") as info:
        config_of(host=host)
    assert "es-secret-in-host" not in str(info.value)


def test_defaults():
    config = config_of()
    assert config.timeout == (10.0, 60.0)
    assert (config.max_retries, config.backoff_base, config.backoff_max) == (5, 1.0, 60.0)
    assert (config.retry_after_max, config.batch_size, config.max_concurrency) == (300.0, 100, 4)
    assert config.verify is True
    assert config.log_payloads is False


def test_the_key_is_never_in_repr():
    config = config_of(password=f"  {KEY}\n")
    assert config.api_key == KEY
    assert KEY not in repr(config)
    assert KEY not in str(config)


def test_the_key_is_registered_with_the_secrets_masker():
    # Airflow's Connection masks its password itself; a duck-typed connection (as some secrets backends or
    # tests hand over) proves the provider registers the key on its own.
    from types import SimpleNamespace

    key = f"es-masked-{uuid.uuid4().hex}"
    assert key in str(redact(f"x-api-key: {key}"))
    conn = SimpleNamespace(conn_id="es_mask", host="", port=None, password=key, extra=None)
    ExpertSenderConnectionConfig.from_connection(conn)  # type: ignore[arg-type]
    assert key not in str(redact(f"x-api-key: {key}"))


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_key_tells_to_set_the_password(password):
    with pytest.raises(ExpertSenderConfigError, match="password"):
        config_of(password=password)


def test_key_with_spaces_is_rejected_without_echoing_it():
    with pytest.raises(ExpertSenderConfigError, match="API key contains") as info:
        config_of(password="abc def-secret-value")
    assert "secret-value" not in str(info.value)


def test_json_extras_are_typed():
    config = config_of(
        extra={
            "connect_timeout": 2,
            "read_timeout": 7.5,
            "max_retries": 0,
            "backoff_base": 0,
            "backoff_max": 3,
            "retry_after_max": 9,
            "max_retry_time": 30,
            "batch_size": 500,
            "max_concurrency": 8,
            "verify": False,
            "log_payloads": True,
        }
    )
    assert config.timeout == (2.0, 7.5)
    assert (config.max_retries, config.batch_size, config.max_concurrency) == (0, 500, 8)
    assert (config.backoff_base, config.backoff_max, config.retry_after_max, config.max_retry_time) == (
        0.0,
        3.0,
        9.0,
        30.0,
    )
    assert (config.verify, config.log_payloads) == (False, True)


def test_uri_form_gives_strings_which_are_typed():
    conn = Connection(
        conn_id="es_uri",
        uri=f"expertsender://:{KEY}@api.example.test?read_timeout=5&max_retries=3&verify=false&batch_size=250",
    )
    config = ExpertSenderConnectionConfig.from_connection(conn)
    assert config.base_url == "https://api.example.test"
    assert config.api_key == KEY
    assert config.read_timeout == 5.0
    assert config.max_retries == 3
    assert config.batch_size == 250
    assert config.verify is False


def test_string_extras_as_a_uri_query_delivers_them():
    config = config_of(
        extra={
            "read_timeout": " 5 ",
            "max_retries": "3",
            "batch_size": "250.0",
            "verify": "FALSE",
            "log_payloads": "1",
        }
    )
    assert (config.read_timeout, config.max_retries, config.batch_size) == (5.0, 3, 250)
    assert (config.verify, config.log_payloads) == (False, True)


def test_airflow2_form_prefix_and_empty_fields():
    config = config_of(
        extra={"extra__expertsender__read_timeout": "12", "batch_size": "", "max_retries": None}
    )
    assert config.read_timeout == 12.0
    assert config.batch_size == 100
    assert config.max_retries == 5


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("connect_timeout", "0", "a number from 0.01 to 600 (seconds)"),
        ("read_timeout", "-1", "a number from 0.01 to 3600 (seconds)"),
        ("read_timeout", "soon", "a number from 0.01 to 3600 (seconds)"),
        ("read_timeout", "nan", "a number from 0.01 to 3600 (seconds)"),
        ("read_timeout", True, "a number from 0.01 to 3600 (seconds)"),
        ("read_timeout", 1e9, "a number from 0.01 to 3600 (seconds)"),
        ("backoff_base", -0.5, "a number from 0 to 3600 (seconds)"),
        ("max_retries", "2.5", "a whole number from 0 to 1000"),
        ("max_retries", -1, "a whole number from 0 to 1000"),
        ("max_retries", [], "a whole number from 0 to 1000"),
        ("batch_size", 0, "a whole number from 1 to 10000"),
        ("max_concurrency", "many", "a whole number from 1 to 64"),
        ("verify", "maybe", "true or false"),
        ("log_payloads", "2", "true or false"),
    ],
)
def test_bad_extra_names_the_extra_and_the_accepted_values(name, value, accepted):
    with pytest.raises(ExpertSenderConfigError) as info:
        config_of(extra={name: value})
    assert repr(name) in str(info.value)
    assert accepted in str(info.value)


def test_extra_that_is_not_a_json_object():
    # Airflow's extra_dejson logs and returns {} for unparseable text (some versions refuse it earlier).
    from types import SimpleNamespace

    conn = SimpleNamespace(
        conn_id="es_conf", host="", port=None, password=KEY, extra="{not json", extra_dejson={}
    )
    with pytest.raises(ExpertSenderConfigError, match="JSON object"):
        ExpertSenderConnectionConfig.from_connection(conn)  # type: ignore[arg-type]


def test_unknown_extra_is_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_expertsender.connection"):
        config = config_of(extra={"read_timout": 5})
    assert config.read_timeout == 60.0
    assert "'read_timout' (did you mean 'read_timeout'?)" in caplog.text
    assert config.unknown_extras == ("read_timout",)


def test_verify_false_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_expertsender.connection"):
        config_of(extra={"verify": "false"})
    assert "verification is OFF" in caplog.text


@given(st.floats(min_value=0.01, max_value=3600, allow_nan=False))
def test_any_positive_number_string_round_trips(value):
    assert config_of(extra={"read_timeout": repr(value)}).read_timeout == value


@given(st.integers(min_value=1, max_value=10_000))
def test_any_whole_number_string_round_trips(value):
    assert config_of(extra={"batch_size": str(value)}).batch_size == value


def test_every_form_field_is_a_parsed_extra():
    config = config_of(extra={name: "1" for name in CONN_FIELDS})
    for name in CONN_FIELDS:
        assert getattr(config, name) == 1


def test_ui_field_behaviour_renders_the_shared_description():
    behaviour = ExpertSenderHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": HIDDEN_FIELDS,
        "relabeling": RELABELING,
        "placeholders": PLACEHOLDERS,
    }
    assert behaviour["relabeling"]["password"] == "API key"


def _reads_conn_fields() -> bool:
    """Airflow 3.2+ builds the form's extra fields from the provider info's conn-fields."""
    return Version(airflow_version).release >= (3, 2)


def test_airflow_registers_the_form_on_this_line():
    """ProvidersManager keeps our hook, its form fields and its field behaviour (2.10 drops a hook whose
    widgets use a field class it does not support)."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.hooks["expertsender"].hook_class_name.endswith("hooks.expertsender.ExpertSenderHook")
    widgets = manager.connection_form_widgets
    if not widgets and classic_form_parts() is None and not _reads_conn_fields():
        pytest.skip(
            f"Airflow {airflow_version} without the FAB provider: no form widgets (3.0/3.1 build the extra "
            "fields from WTForms, 3.2+ from conn-fields); the extras are set in the connection's Extra JSON"
        )
    assert {f"extra__expertsender__{name}" for name in CONN_FIELDS} <= set(widgets)
    behaviour = manager.field_behaviours["expertsender"]
    assert behaviour["hidden_fields"] == HIDDEN_FIELDS
    assert behaviour["relabeling"] == RELABELING


def test_form_values_arrive_as_strings_or_numbers():
    """What the 2.10 form stores (StringField text, IntegerField ints) parses like any other extra."""
    widgets = ExpertSenderHook.get_connection_form_widgets()
    if not widgets:  # Airflow 3 renders conn-fields from the provider info instead
        pytest.skip("no flask_appbuilder on this Airflow line")
    assert set(widgets) == set(CONN_FIELDS)
    config = config_of(
        extra={"connect_timeout": "2.5", "read_timeout": "30", "max_retries": 2, "batch_size": 50}
    )
    assert (config.connect_timeout, config.read_timeout, config.max_retries, config.batch_size) == (
        2.5,
        30,
        2,
        50,
    )
