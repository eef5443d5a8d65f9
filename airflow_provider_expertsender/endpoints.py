"""The ECDP API surface in one table: every method, path and what is known about it.

Paths of the real API that are not publicly documented ([UNK] in the project's API reference) are chosen here
and nowhere else, so a correction is a one-line change. The emulator serves every plausible variant (see its
switches), and the test suite runs the provider against each.

Path templates use ``{name}`` placeholders; the hook URL-encodes every value (``safe=""``), so an identifier
such as ``../x`` or ``a%2Fb`` can never reach another path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError


@dataclass(frozen=True)
class Endpoint:
    """One API method.

    :param method: HTTP method.
    :param path: path template relative to the base URL.
    :param evidence: how sure we are of the path: ``doc`` (documented), ``code`` (used by official
        integrations), ``unk`` (a guess from third-party code; see the note).
    :param note: why this path, for ``unk`` ones.
    """

    method: str
    path: str
    evidence: str = "doc"
    note: str = ""


class Api:
    """Every ECDP API method the provider calls (a namespace of :class:`Endpoint` constants)."""

    UPSERT_CUSTOMERS = Endpoint("POST", "/customers")
    GET_CUSTOMER_BY_ID = Endpoint("GET", "/customers/id/{value}", "code")
    GET_CUSTOMER_BY_EMAIL = Endpoint("GET", "/customers/email/{value}", "code")
    GET_CUSTOMER_BY_PHONE = Endpoint("GET", "/customers/phone/{value}", "code")
    GET_CUSTOMER_BY_CRM_ID = Endpoint("GET", "/customers/crmId/{value}", "code")
    REGISTER_ORDERS = Endpoint("POST", "/orders")
    # [UNK] The docs say "GET {id}"; only a third-party package shows a path, /orders/id/{id}, parallel to
    # /customers/id/{id}. The emulator serves both /orders/id/{id} and /orders/{id} (switch order_get_paths).
    GET_ORDER = Endpoint("GET", "/orders/id/{order_id}", "unk", "path from a third-party package only")
    GET_ORDER_BARE = Endpoint("GET", "/orders/{order_id}", "unk", "fits the docs' wording 'GET {id}'")
    UPDATE_ORDER_STATUS = Endpoint("PUT", "/orders/status", "code")
    # Path from a third-party package; the docs describe a soft delete (IsDeleted) of /orders/{id}.
    DELETE_ORDER = Endpoint("DELETE", "/orders/{order_id}", "unk", "path from a third-party package only")
    SEND_CUSTOM_EVENT = Endpoint("POST", "/scenariocustomevents")
    LIST_CUSTOMER_ATTRIBUTES = Endpoint("GET", "/customerattributes")
    LIST_CONSENTS = Endpoint("GET", "/customerconsents")
    LIST_ORDER_ATTRIBUTES = Endpoint("GET", "/orderattributes")
    LIST_PRODUCT_ATTRIBUTES = Endpoint("GET", "/productattributes")


# Documented spellings of the request enums, matched case-insensitively (ASP.NET parses enums that way).
CUSTOMER_MODES = ("Add", "Update", "AddOrUpdate")
ORDER_MODES = ("Add", "AddOrReplace", "Replace")
# "VisitorId": the older pages spell it so, the newest "visitorId"; the API parses enums case-insensitively
# [INF], so the PascalCase spelling, consistent with the other values, is sent.
MATCH_BY = ("Email", "PhoneNumber", "CrmId", "GUID", "VisitorId")

#: Write modes that must not be applied twice: repeating an ``Add`` that reached the server fails or
#: duplicates. Every other mode (``Update``, ``AddOrUpdate``, ``AddOrReplace``, ``Replace``) is safe to
#: repeat.
NON_IDEMPOTENT_MODES = frozenset({"Add"})


def is_idempotent_mode(mode: str) -> bool:
    """Whether a customer or order write ``mode`` is safe to repeat (the one rule the hook, the bulk engine
    and the bulk operators follow).

    :param mode: the mode in its documented spelling (``models.normalize_customer_mode`` /
        ``models.normalize_order_mode`` turn any accepted spelling into it).
    """
    return mode not in NON_IDEMPOTENT_MODES


# Customer lookups: the operator/sensor/hook keyword -> endpoint.
CUSTOMER_LOOKUPS: dict[str, Endpoint] = {
    "customer_id": Api.GET_CUSTOMER_BY_ID,
    "email": Api.GET_CUSTOMER_BY_EMAIL,
    "phone": Api.GET_CUSTOMER_BY_PHONE,
    "crm_id": Api.GET_CUSTOMER_BY_CRM_ID,
}

# Custom events: the operator/hook keyword naming the customer -> the member of the request body.
CUSTOM_EVENT_IDENTIFIERS: dict[str, str] = {
    "customer_id": "customerId",
    "email": "customerEmail",
    "email_md5": "customerEmailMd5",
    "email_sha256": "customerEmailSha256",
    "phone": "customerPhone",
    "crm_id": "customerCrmId",
}

# [UNK] order GET path: the connection extra ``order_get_path`` picks one of these (default "id").
ORDER_GET_PATHS: dict[str, Endpoint] = {"id": Api.GET_ORDER, "bare": Api.GET_ORDER_BARE}

# Settings lists: the name users pass (ExpertSenderListSettingsOperator(setting=...)) -> endpoint.
SETTINGS_LISTS: dict[str, Endpoint] = {
    "customer_attributes": Api.LIST_CUSTOMER_ATTRIBUTES,
    "consents": Api.LIST_CONSENTS,
    "order_attributes": Api.LIST_ORDER_ATTRIBUTES,
    "product_attributes": Api.LIST_PRODUCT_ATTRIBUTES,
}


def normalize_setting(setting: Any) -> str:
    """Return the settings-list name in the spelling of :data:`SETTINGS_LISTS`.

    Case, surrounding blanks and ``-`` for ``_`` are forgiven (``"Customer-Attributes"`` works).

    :raises ExpertSenderConfigError: ``setting`` names no settings list.
    """
    key = setting.strip().lower().replace("-", "_") if isinstance(setting, str) else setting
    if key not in SETTINGS_LISTS:
        raise ExpertSenderConfigError(
            f"Unknown setting {setting!r}. Pass setting= one of: {', '.join(SETTINGS_LISTS)}."
        )
    return key


# The read-only call test_connection() makes.
CONNECTION_TEST = Api.LIST_CUSTOMER_ATTRIBUTES
