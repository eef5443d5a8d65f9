"""Customer payloads for ``POST /customers``: identifiers, names, birth date, gender, attributes, consents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationError, ValidationInfo, field_validator

from airflow_provider_expertsender.models._base import (
    PayloadModel,
    add_problem,
    fold_key,
    invalid,
    problems_from,
    record_identifier,
)
from airflow_provider_expertsender.models._enums import (
    GENDER_TABLE,
    GENDERS,
    MATCH_BY_FIELD,
    MATCH_BY_TABLE,
    consent_value,
    enum_validator,
    normalize_match_by,
)
from airflow_provider_expertsender.models._fields import (
    AttributeListInput,
    BirthDateString,
    CrmId,
    CustomAttribute,
    Email,
    Guid,
    Name256,
    Phone,
    PositiveInt32,
    UniqueNames,
    VisitorId,
    settings_of,
)

if TYPE_CHECKING:
    from airflow_provider_expertsender.models.settings import SettingsCatalog


def _consent_list(value: Any) -> Any:
    """Accept consents as ``[{"id", "value"}, ...]`` or as a plain ``{id: value}`` mapping."""
    if isinstance(value, Mapping):
        return [{"id": consent_id, "value": item} for consent_id, item in value.items()]
    return value


class Consent(PayloadModel):
    """``{id, value}``: a consent list id and ``True``/``False``/``AwaitingConfirmation``."""

    id: PositiveInt32
    value: Annotated[str, BeforeValidator(consent_value)]

    @field_validator("id")
    @classmethod
    def _known_id(cls, consent_id: int, info: ValidationInfo) -> int:
        settings = settings_of(info)
        if settings is not None:
            settings.check_consent_id(consent_id)
        return consent_id


def _unique_consents(consents: list[Consent] | None) -> list[Consent] | None:
    if consents:
        seen: set[int] = set()
        for consent in consents:
            if consent.id in seen:
                raise ValueError(f"consent id {consent.id} is given twice")
            seen.add(consent.id)
    return consents


ConsentList = Annotated[list[Consent], BeforeValidator(_consent_list), AfterValidator(_unique_consents)]


class ConsentsData(PayloadModel):
    """``consentsData``: the consents plus ``force`` and ``confirmationMessageId`` (double opt-in)."""

    consents: ConsentList | None = None
    force: bool | None = None
    confirmation_message_id: PositiveInt32 | None = None


class Customer(PayloadModel):
    """One item of ``POST /customers`` ``data``.

    Validation context: ``match_by`` (documented spelling; the field it needs becomes required) and
    ``settings`` (a :class:`SettingsCatalog` or ``None``).
    """

    # The top-level "consents" shortcut is moved into consentsData before validation (see _prepare).
    _extra_keys = {"consents": "consents"}

    email: Email | None = None
    phone: Phone | None = None
    crm_id: CrmId | None = None
    visitor_id: VisitorId | None = None
    # [UNK] the field of matchBy=GUID (see MATCH_BY_FIELD).
    guid: Guid | None = None
    first_name: Name256 | None = None
    last_name: Name256 | None = None
    date_of_birth: BirthDateString | None = None
    gender: Annotated[str, BeforeValidator(enum_validator(GENDER_TABLE, GENDERS))] | None = None
    custom_attributes: Annotated[list[CustomAttribute], AttributeListInput, UniqueNames] | None = None
    consents_data: ConsentsData | None = None

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        context = info.context if type(info.context) is dict else {}
        match_by = context.get("match_by")
        if match_by is not None:
            needed = MATCH_BY_FIELD[match_by]
            if data.get(needed) is None:
                add_problem(data, needed, f"required when match_by is {match_by}")
        if "consents" in data:
            consents = data.pop("consents")
            current = data.get("consentsData")
            if current is None:
                data["consentsData"] = {"consents": consents}
            elif isinstance(current, Mapping) and not _has_consents(current):
                data["consentsData"] = {**current, "consents": consents}
            else:
                add_problem(
                    data, "consents", "give consents at the top level or inside consentsData, not both"
                )
        return data


def _has_consents(consents_data: Mapping[Any, Any]) -> bool:
    return any(isinstance(key, str) and fold_key(key) == "consents" for key in consents_data)


def customer_payload(
    record: Mapping[str, Any],
    *,
    match_by: str,
    index: int = 0,
    settings: SettingsCatalog | None = None,
) -> dict[str, Any]:
    """Validate one customer record and return its API JSON (camelCase keys, ``None`` omitted).

    :param record: the customer; keys in camelCase (``crmId``) or snake_case (``crm_id``).
    :param match_by: the request's ``matchBy`` (any accepted spelling); its identifier becomes required.
    :param index: the record's position in the input, for the error message.
    :param settings: the business unit's settings lists, to reject unknown attribute names, unknown consent
        ids and attribute values that do not fit their type.
    :raises ExpertSenderInvalidRecordError: listing every broken rule of the record.
    :raises ExpertSenderConfigError: when ``match_by`` is not a known value.
    """
    canonical = MATCH_BY_TABLE.get(match_by.lower()) if isinstance(match_by, str) else None
    if canonical is None:
        canonical = normalize_match_by(match_by)
    try:
        model = Customer.model_validate(record, context={"match_by": canonical, "settings": settings})
    except ValidationError as err:
        raise invalid(index, record_identifier("customer", record), problems_from(err)) from None
    return model.to_api()
