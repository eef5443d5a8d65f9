"""Payload models: validation and serialization of customers, orders, status changes and custom events.

Every function returns API JSON (camelCase keys, ``None`` omitted, dates as ISO-8601 UTC with ``Z``) or raises
:class:`~airflow_provider_expertsender.exceptions.ExpertSenderInvalidRecordError` listing every broken rule of
the record with its position and identifier. The user guide is ``docs/models.md``.

This package imports pydantic (about 100 ms): operator modules import it inside ``execute``.
"""

from __future__ import annotations

from airflow_provider_expertsender.models._base import fold_key, record_identifier
from airflow_provider_expertsender.models._enums import (
    MATCH_BY_FIELD,
    normalize_customer_mode,
    normalize_match_by,
    normalize_order_mode,
    normalize_order_status,
)
from airflow_provider_expertsender.models.customers import customer_payload
from airflow_provider_expertsender.models.events import custom_event_payload, data_fields_payload
from airflow_provider_expertsender.models.orders import order_payload, status_change_payload
from airflow_provider_expertsender.models.settings import AttributeSpec, SettingsCatalog

__all__ = [
    "MATCH_BY_FIELD",
    "AttributeSpec",
    "SettingsCatalog",
    "custom_event_payload",
    "customer_payload",
    "data_fields_payload",
    "fold_key",
    "normalize_customer_mode",
    "normalize_match_by",
    "normalize_order_mode",
    "normalize_order_status",
    "order_payload",
    "record_identifier",
    "status_change_payload",
]
