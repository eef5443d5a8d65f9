"""The provider's metadata: schema-valid, and discovered by Airflow's ProvidersManager on both lines."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema
import pytest

import airflow_provider_expertsender as provider
from airflow_provider_expertsender._compat import classic_form_parts

# Airflow 3.0 and 3.1 register a hook's form (field behaviour, widgets) only where WTForms is installed (the
# FAB provider brings it); 3.2+ reads conn-fields from the provider info, 2.10 always has WTForms.
NO_FORM_ON_THIS_LINE = (
    tuple(int(p) for p in airflow.__version__.split(".")[:2]) in ((3, 0), (3, 1))
    and classic_form_parts() is None
)
needs_form = pytest.mark.skipif(
    NO_FORM_ON_THIS_LINE,
    reason=f"Airflow {airflow.__version__} without WTForms (no FAB provider) registers no form",
)


def test_entry_point_returns_provider_info() -> None:
    eps = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith(provider.__name__)]
    assert len(eps) == 1
    assert eps[0].load()() == provider.get_provider_info()


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(provider.get_provider_info(), schema)


def test_provider_info_conn_section_validates_against_provider_yaml_schema() -> None:
    """3.2+ reads ui-field-behaviour and conn-fields from the provider info (provider.yaml schema)."""
    path = Path(airflow.__file__).parent / "provider.yaml.schema.json"
    if not path.exists():
        pytest.skip(
            f"Airflow {airflow.__version__} ships no provider.yaml schema (conn-fields arrived in 3.2)"
        )
    conn_schema = json.loads(path.read_text())["properties"]["connection-types"]
    jsonschema.validate(provider.get_provider_info()["connection-types"], conn_schema)


def test_every_listed_module_imports() -> None:
    info = provider.get_provider_info()
    kinds = ("hooks", "operators", "sensors", "triggers")
    modules = [m for kind in kinds for entry in info[kind] for m in entry["python-modules"]]
    for name in modules:
        importlib.import_module(name)
    hook_path = info["connection-types"][0]["hook-class-name"]
    module, _, cls = hook_path.rpartition(".")
    hook = getattr(importlib.import_module(module), cls)
    assert hook.conn_type == provider.CONN_TYPE
    assert hook.hook_name == info["connection-types"][0]["hook-name"]


def test_importing_the_package_is_cheap() -> None:
    """The package root imports no Airflow, pydantic, requests or aiohttp (discovery imports it)."""
    code = (
        "import sys, airflow_provider_expertsender; "
        "print(sorted(m for m in ('airflow', 'pydantic', 'requests', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@needs_form
def test_providers_manager_discovers_package_hook_and_form() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert provider.PACKAGE_NAME in pm.providers
    assert pm.providers[provider.PACKAGE_NAME].version == provider.__version__
    hook_info = pm.hooks[provider.CONN_TYPE]
    assert hook_info is not None
    assert hook_info.hook_class_name.endswith("ExpertSenderHook")
    assert hook_info.connection_id_attribute_name == "expertsender_conn_id"
    behaviour = pm.field_behaviours[provider.CONN_TYPE]
    assert set(behaviour["hidden_fields"]) >= {"login", "schema", "port"}
    assert behaviour["relabeling"]["password"] == "API key"
    widgets = {name for name in pm.connection_form_widgets if name.startswith("extra__expertsender__")}
    assert widgets >= {f"extra__expertsender__{name}" for name in provider.CONN_FIELDS}


@pytest.mark.parametrize("command", ["list", "hooks", "behaviours"])
def test_airflow_providers_cli_shows_us(command: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", command, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    needle = provider.PACKAGE_NAME if command == "list" else provider.CONN_TYPE
    if command == "behaviours" and NO_FORM_ON_THIS_LINE:
        pytest.skip(f"Airflow {airflow.__version__} without WTForms (no FAB provider) registers no form")
    assert needle in out.stdout
