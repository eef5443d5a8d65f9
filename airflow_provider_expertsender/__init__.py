"""Apache Airflow provider for the ExpertSender customer data platform (ECDP).

Importing this package is cheap: it defines the version and the provider metadata that Airflow's
``ProvidersManager`` reads through the ``apache_airflow_provider`` entry point. Nothing here imports Airflow,
touches the network or reads a connection.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_expertsender._extras import NUMERIC_EXTRAS

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-expertsender"
CONN_TYPE = "expertsender"
DEFAULT_BASE_URL = "https://api.ecdp.app"

_MODULE = "airflow_provider_expertsender"


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow uses for discovery (hooks, connection form, operators...)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "ExpertSender",
        "description": "`ExpertSender <https://expertsender.com/>`__ customer data platform (ECDP) provider: "
        "customers, orders, scenario custom events and settings lists.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "ExpertSender",
                "external-doc-url": "https://help.expertsender.com/ecdp/how-to-use-ecdp-api",
                "tags": ["service"],
                "how-to-guide": [],
            }
        ],
        "hooks": [
            {
                "integration-name": "ExpertSender",
                "python-modules": [f"{_MODULE}.hooks.expertsender"],
            }
        ],
        "operators": [
            {
                "integration-name": "ExpertSender",
                "python-modules": [
                    f"{_MODULE}.operators.customers",
                    f"{_MODULE}.operators.orders",
                    f"{_MODULE}.operators.events",
                    f"{_MODULE}.operators.settings",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "ExpertSender",
                "python-modules": [f"{_MODULE}.sensors.customers", f"{_MODULE}.sensors.orders"],
            }
        ],
        "triggers": [
            {
                "integration-name": "ExpertSender",
                "python-modules": [f"{_MODULE}.triggers.expertsender"],
            }
        ],
        "extra-links": [f"{_MODULE}.links.ExpertSenderDeadLetterLink"],
        # expertsender://<connection id>/<resource> Assets (docs/assets.md): Airflow 3 reads "asset-uris",
        # 2.10 "dataset-uris".
        **{
            key: [
                {
                    "schemes": ["expertsender"],
                    "handler": f"{_MODULE}.assets.sanitize_uri",
                    "to_openlineage_converter": f"{_MODULE}.assets.convert_asset_to_openlineage",
                }
            ]
            for key in ("asset-uris", "dataset-uris")
        },
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": f"{_MODULE}.hooks.expertsender.ExpertSenderHook",
                "hook-name": "ExpertSender",
                # Read by Airflow 3.2+ without importing the hook; 2.10 calls the hook's
                # get_ui_field_behaviour() / get_connection_form_widgets() instead (same content).
                "ui-field-behaviour": _ui_field_behaviour_hyphenated(),
                "conn-fields": _conn_fields(),
            }
        ],
    }


# The connection form, described once and rendered for both Airflow lines.
HIDDEN_FIELDS = ["login", "schema", "port"]
RELABELING = {"password": "API key", "host": "Base URL"}
PLACEHOLDERS = {
    "password": "the business unit's API key (Settings -> API in ExpertSender)",
    "host": f"{DEFAULT_BASE_URL} (leave empty for the production API)",
    "extra": '{"read_timeout": 60, "max_retries": 5, "batch_size": 100}',
}

# Connection extras shown as form fields: the labelled ones of the table connection.py parses with, so the
# form's bounds are the runtime's.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    name: {
        "label": spec.label,
        "description": spec.description,
        "type": spec.kind,
        "default": spec.default,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
    }
    for name, spec in NUMERIC_EXTRAS.items()
    if spec.label
}


def _ui_field_behaviour_hyphenated() -> dict[str, Any]:
    return {"hidden-fields": HIDDEN_FIELDS, "relabeling": RELABELING, "placeholders": PLACEHOLDERS}


def _conn_fields() -> dict[str, Any]:
    return {
        name: {
            "label": spec["label"],
            "description": spec["description"],
            "schema": {
                "type": [spec["type"], "null"],
                "minimum": spec["minimum"],
                "maximum": spec["maximum"],
                "default": spec["default"],
            },
        }
        for name, spec in CONN_FIELDS.items()
    }
