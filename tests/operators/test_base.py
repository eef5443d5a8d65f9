"""The shared operator machinery: template detection, identifier checks, the lazy hook, light imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.operators import _base
from airflow_provider_expertsender.operators._base import (
    ExpertSenderBaseOperator,
    check_identifiers_early,
    is_dynamic,
    one_identifier,
)
from airflow_provider_expertsender.operators.customers import (
    ExpertSenderGetCustomerOperator,
    ExpertSenderUpsertCustomersOperator,
)
from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator
from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrderOperator,
    ExpertSenderGetOrderOperator,
    ExpertSenderRegisterOrdersOperator,
    ExpertSenderUpdateOrderStatusOperator,
)
from airflow_provider_expertsender.operators.settings import ExpertSenderListSettingsOperator

OPERATORS = [
    ExpertSenderUpsertCustomersOperator,
    ExpertSenderGetCustomerOperator,
    ExpertSenderRegisterOrdersOperator,
    ExpertSenderGetOrderOperator,
    ExpertSenderUpdateOrderStatusOperator,
    ExpertSenderDeleteOrderOperator,
    ExpertSenderSendCustomEventOperator,
    ExpertSenderListSettingsOperator,
]


class _FakeXComArg:
    """Quacks like an XComArg (``resolve`` + ``iter_references``), as both Airflow lines' classes do."""

    def resolve(self, context):  # pragma: no cover - never called
        raise AssertionError

    def iter_references(self):  # pragma: no cover - never called
        return iter(())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain@example.com", False),
        ("{{ params.email }}", True),
        ("{% if x %}a{% endif %}", True),
        ("{# comment #}", True),
        ("curly { braces }", False),
        (None, False),
        (42, False),
        ({"a": 1, "b": ["x", {"c": "{{ ds }}"}]}, True),
        ({"a": 1, "b": ["x", {"c": "y"}]}, False),
        ({"{{ key }}": 1}, False),  # Airflow does not render dict keys
        (("a", "{{ b }}"), True),
        (_FakeXComArg(), True),
        ([1, _FakeXComArg()], True),
    ],
)
def test_is_dynamic(value, expected):
    assert is_dynamic(value) is expected


def test_is_dynamic_recognises_the_real_xcomarg_of_this_airflow_line():
    try:
        from airflow.sdk import DAG
    except ImportError:
        from airflow import DAG
    with DAG("is_dynamic_probe", schedule=None):
        op = ExpertSenderListSettingsOperator(task_id="settings", setting="consents")
    assert is_dynamic(op.output)
    assert is_dynamic(op.output["id"])


class TestOneIdentifier:
    def test_returns_the_only_one_given(self):
        assert one_identifier({"email": None, "phone": "+48", "crm_id": ""}, what="X") == ("phone", "+48")

    def test_none_given(self):
        with pytest.raises(ExpertSenderConfigError, match=r"X needs exactly one of email, phone; none"):
            one_identifier({"email": None, "phone": ""}, what="X")

    def test_several_given_names_them_but_not_their_values(self):
        with pytest.raises(ExpertSenderConfigError, match=r"got 2 \(email, phone\)\. Pass only one") as info:
            one_identifier({"email": "jane@example.com", "phone": "+48500100200"}, what="X")
        assert "jane@example.com" not in str(info.value)
        assert "+48500100200" not in str(info.value)

    def test_zero_is_a_given_value(self):
        assert one_identifier({"customer_id": 0, "email": None}, what="X") == ("customer_id", 0)


class TestCheckIdentifiersEarly:
    def test_none_given_fails_even_with_templates_elsewhere(self):
        with pytest.raises(ExpertSenderConfigError, match="none was given"):
            check_identifiers_early({"email": None, "phone": None}, what="X")

    def test_two_literals_fail(self):
        with pytest.raises(ExpertSenderConfigError, match="got 2"):
            check_identifiers_early({"email": "a@example.com", "phone": "+48"}, what="X")

    def test_two_with_a_template_wait_for_run_time(self):
        check_identifiers_early({"email": "{{ params.email }}", "phone": "+48"}, what="X")

    def test_two_with_an_xcomarg_wait_for_run_time(self):
        check_identifiers_early({"email": _FakeXComArg(), "phone": "+48"}, what="X")


def test_hook_is_created_lazily_for_the_rendered_conn_id(monkeypatch):
    created = []

    class RecordingHook:
        def __init__(self, *, expertsender_conn_id):
            created.append(expertsender_conn_id)

    monkeypatch.setattr(_base, "ExpertSenderHook", RecordingHook)
    op = ExpertSenderListSettingsOperator(
        task_id="settings", setting="consents", expertsender_conn_id="{{ params.unit }}"
    )
    assert created == []  # nothing at construction (DAG-parse time)
    op.render_template_fields({"params": {"unit": "es_unit_b"}})
    assert op.hook is op.hook
    assert created == ["es_unit_b"]


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_every_operator_shares_the_base(operator):
    assert issubclass(operator, ExpertSenderBaseOperator), (
        f"{operator.__name__} should derive from ExpertSenderBaseOperator (conn id, lazy hook, ui_color)"
    )
    assert "expertsender_conn_id" in operator.template_fields


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_template_fields_are_init_arguments_and_never_secret(operator):
    import inspect

    params = set()
    for cls in operator.__mro__:
        if "__init__" in vars(cls):
            params |= set(inspect.signature(cls.__init__).parameters)
    from airflow_provider_expertsender.arguments import IDENTIFIER_ATTRIBUTES
    from airflow_provider_expertsender.sync.options import WriteOptions

    for name in operator.template_fields:
        if name == "options":  # the bulk write options, given as keyword arguments, rendered nested
            assert set(WriteOptions.template_fields) <= WriteOptions.names()
            continue
        # An identifier argument may live under another attribute (``email`` -> ``customer_email``: an
        # operator's ``email`` is Airflow's alert addresses); the argument is still the user's.
        argument = {attr: arg for arg, attr in IDENTIFIER_ATTRIBUTES.items()}.get(name, name)
        assert argument in params, f"{operator.__name__}: template field {name!r} is no __init__ argument"
        assert not any(word in name.lower() for word in ("key", "password", "secret", "token")), name
    for name in getattr(operator, "template_fields_renderers", {}):
        assert name in operator.template_fields


def test_operator_modules_import_without_models_sync_or_aiohttp():
    """DAG files import operator modules at parse time: no payload models, sync engine or aiohttp."""
    code = (
        "import json, sys\n"
        "import airflow_provider_expertsender.operators.customers\n"
        "import airflow_provider_expertsender.operators.orders\n"
        "import airflow_provider_expertsender.operators.events\n"
        "import airflow_provider_expertsender.operators.settings\n"
        "package = 'airflow_provider_expertsender'\n"
        "heavy = [package + '.models', package + '.sync.engine', package + '.sync.sources',\n"
        "         package + '.sync.mapping',\n"
        "         package + '.emulator', 'aiohttp', 'pyarrow', 'pandas']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
