"""Customer payloads for ``POST /customers``: identifiers, names, birth date, gender, attributes, consents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationError, ValidationInfo, field_validator

from airflow_provider_expertsender.models import _fast, _values
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


# ----------------------------------------------------------------------------------------------- fast path
# The Customer model above, rule for rule, for plain dicts (see models/_fast.py): gives up on anything else.

_GENDER = enum_validator(GENDER_TABLE, GENDERS)
_POSITIVE_INT32 = _values.int32(1)


def _visitor_id(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.identifier(value, 1, 38)


def _guid(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_values.check_guid, _fast.text(value, 1, 38))


def _name(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.text(value, 0, 256)


def _birth_date(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_values.birth_date_string, value)


def _gender(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_GENDER, value)


def _custom_attributes(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.attributes(value, CustomAttribute._exact, CustomAttribute._kind, settings)


def _consents_data(value: Any, settings: SettingsCatalog | None) -> Any:
    fields = _fast.resolve(value, ConsentsData._exact)
    payload: dict[str, Any] = {}
    consents = fields.get("consents")
    if consents is not None:
        if type(consents) is dict:
            consents = [{"id": consent_id, "value": item} for consent_id, item in consents.items()]
        elif type(consents) is not list:
            raise _fast.GiveUp
        items: list[dict[str, Any]] = []
        seen: set[int] = set()
        for raw in consents:
            consent = _fast.resolve(raw, Consent._exact)
            if "id" not in consent or "value" not in consent:
                raise _fast.GiveUp
            consent_id = _fast.call(_POSITIVE_INT32, consent["id"])
            if settings is not None:
                _fast.call(settings.check_consent_id, consent_id)
            if consent_id in seen:
                raise _fast.GiveUp
            seen.add(consent_id)
            items.append({"id": consent_id, "value": _fast.call(consent_value, consent["value"])})
        payload["consents"] = items
    force = fields.get("force")
    if force is not None:
        if type(force) is not bool:
            raise _fast.GiveUp
        payload["force"] = force
    message_id = fields.get("confirmationMessageId")
    if message_id is not None:
        payload["confirmationMessageId"] = _fast.call(_POSITIVE_INT32, message_id)
    return payload


# In the model's field order, which is the order of the API JSON.
_FAST_FIELDS = (
    ("email", _fast.email),
    ("phone", _fast.phone),
    ("crmId", _fast.crm_id),
    ("visitorId", _visitor_id),
    ("guid", _guid),
    ("firstName", _name),
    ("lastName", _name),
    ("dateOfBirth", _birth_date),
    ("gender", _gender),
    ("customAttributes", _custom_attributes),
    ("consentsData", _consents_data),
)


def _fast_customer(record: Any, match_by: str, settings: SettingsCatalog | None) -> dict[str, Any] | None:
    """What ``Customer.model_validate(record, ...).to_api()`` returns, or ``None``: use the model."""
    try:
        fields = _fast.resolve(record, Customer._exact)
        if MATCH_BY_FIELD[match_by] not in fields:
            return None
        if "consents" in fields:
            if "consentsData" in fields:
                return None
            fields["consentsData"] = {"consents": fields.pop("consents")}
        return _fast.build(fields, _FAST_FIELDS, settings)
    except _fast.GiveUp:
        return None


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
    payload = _fast_customer(record, canonical, settings)
    if payload is not None:
        return payload
    try:
        model = Customer.model_validate(record, context={"match_by": canonical, "settings": settings})
    except ValidationError as err:
        raise invalid(index, record_identifier("customer", record), problems_from(err)) from None
    return model.to_api()
