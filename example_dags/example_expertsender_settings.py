"""Settings lists: read the business unit's four settings lists and use them before writing.

ExpertSender rejects custom attributes, consents, order and product attributes it does not know. This DAG
reads the four lists, maps a CRM export onto the attributes and consents the business unit really has (and
says which CRM fields have no counterpart), fails early if the attributes the order sync relies on are
missing, and upserts the customers with ``validate_against_settings=True`` so that a value that does not fit
its attribute's type is caught before it is sent. Against a real business unit this DAG writes the customers
below into it.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.settings import ExpertSenderListSettingsOperator

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task

log = logging.getLogger(__name__)

# A CRM export: CRM field names, consents by their name in the CRM.
CRM_EXPORT = [
    {"email": "ada@example.com", "tier": "gold", "points": 1200, "city": "London", "newsletter": True},
    {"email": "alan@example.com", "tier": "silver", "points": "n/a", "city": "Wilmslow", "newsletter": False},
    {"email": "grace@example.com", "tier": "bronze", "points": 80, "favourite_ship": "USS Hopper"},
]
# CRM field -> ExpertSender customer attribute; CRM consent field -> consent list name.
ATTRIBUTE_NAMES = {"tier": "loyalty_tier", "points": "points", "city": "city", "favourite_ship": "ship"}
CONSENT_NAMES = {"newsletter": "Newsletter"}
# What the warehouse sync writes; it must exist in the business unit before the nightly run.
REQUIRED_ORDER_ATTRIBUTES = {"shipping_method"}
REQUIRED_PRODUCT_ATTRIBUTES = {"size", "color"}


@dag(
    dag_id="example_expertsender_settings",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
)
def example_expertsender_settings():
    # [START howto_operator_list_settings]
    settings = {
        setting: ExpertSenderListSettingsOperator(task_id=f"list_{setting}", setting=setting)
        for setting in ("customer_attributes", "consents", "order_attributes", "product_attributes")
    }
    # [END howto_operator_list_settings]

    # [START howto_settings_feed_validation]
    @task(show_return_value_in_logs=False)  # customer records: not in the task log
    def map_crm_export(customer_attributes: list[dict], consents: list[dict]) -> list[dict[str, Any]]:
        """CRM rows -> customer records, keeping only attributes and consents the business unit knows."""
        known_attributes = {a["name"] for a in customer_attributes}
        consent_ids = {c["name"]: c["id"] for c in consents}
        unmapped = {f for f, name in ATTRIBUTE_NAMES.items() if name not in known_attributes}
        unmapped |= {f for f, name in CONSENT_NAMES.items() if name not in consent_ids}
        if unmapped:
            log.warning("CRM fields without an ExpertSender counterpart, not sent: %s", sorted(unmapped))
        records = []
        for row in CRM_EXPORT:
            records.append(
                {
                    "email": row["email"],
                    "custom_attributes": [
                        {"name": ATTRIBUTE_NAMES[f], "value": v}
                        for f, v in row.items()
                        if f in ATTRIBUTE_NAMES and f not in unmapped
                    ],
                    "consents_data": {
                        "consents": [
                            {"id": consent_ids[CONSENT_NAMES[f]], "value": v}
                            for f, v in row.items()
                            if f in CONSENT_NAMES and f not in unmapped
                        ]
                    },
                }
            )
        return records

    @task
    def check_order_attributes(order_attributes: list[dict], product_attributes: list[dict]) -> None:
        """Fail before the nightly order sync if attributes it writes were removed in ExpertSender."""
        missing = REQUIRED_ORDER_ATTRIBUTES - {a["name"] for a in order_attributes}
        missing |= REQUIRED_PRODUCT_ATTRIBUTES - {a["name"] for a in product_attributes}
        if missing:
            raise ValueError(f"Attributes missing in the business unit: {sorted(missing)}")

    ExpertSenderUpsertCustomersOperator(
        task_id="upsert_customers",
        customers=map_crm_export(settings["customer_attributes"].output, settings["consents"].output),
        validate_against_settings=True,  # attribute types are checked too: "points": "n/a" is not a Number
        on_invalid="skip",  # send the valid customers, report the invalid ones
        max_rejected=1,  # ...and fail the task if more than one does not land
    )
    # [END howto_settings_feed_validation]

    check_order_attributes(settings["order_attributes"].output, settings["product_attributes"].output)


example_expertsender_settings()
