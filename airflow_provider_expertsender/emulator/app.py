"""The API itself: routing, the handler of every endpoint, RFC 7807 problem details.

Pure functions of (business unit, request, switches, clock); the HTTP plumbing and the faults live in
``server.py``. Paths and statuses follow ecdp-api.md; each [UNK] behaviour reads its switch here and
nowhere else.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from airflow_provider_expertsender.emulator import validation as v
from airflow_provider_expertsender.emulator.store import (
    CUSTOMER_FIELDS,
    IDENTIFIER_FIELDS,
    SETTINGS_RESOURCES,
    BusinessUnit,
    identity_key,
)
from airflow_provider_expertsender.emulator.switches import Switches

if TYPE_CHECKING:
    from collections.abc import Callable

JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"

TITLES = {
    400: "One or more validation errors occurred.",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "An error occurred while processing your request.",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_TYPES = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    405: "https://tools.ietf.org/html/rfc9110#section-15.5.6",
    413: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    502: "https://tools.ietf.org/html/rfc9110#section-15.6.3",
    503: "https://tools.ietf.org/html/rfc9110#section-15.6.4",
    504: "https://tools.ietf.org/html/rfc9110#section-15.6.5",
}


@dataclass
class Request:
    """One parsed HTTP request (``path`` still URL-encoded; ``segments`` decoded one by one)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    content_type: str = ""
    host: str = ""

    @property
    def segments(self) -> list[str]:
        return [unquote(part) for part in self.path.strip("/").split("/")] if self.path.strip("/") else []

    @classmethod
    def build(
        cls, method: str, path: str, query: str, body: bytes, content_type: str, host: str = ""
    ) -> Request:
        params = {key.lower(): value for key, value in parse_qsl(query, keep_blank_values=True)}
        return cls(method.upper(), path, params, body, content_type or "", host)


@dataclass
class Response:
    """What to answer. ``body`` None means no body; ``items`` is the data[] size for the request log."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    items: int = 0


def problem(
    status: int,
    substatus: str,
    detail: str,
    instance: str,
    *,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    title: str | None = None,
) -> Response:
    """An RFC 7807 problem details response with ExpertSender's ``substatus`` (and ASP.NET's ``errors``)."""
    body: dict[str, Any] = {
        "type": _TYPES.get(status, "about:blank"),
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "substatus": substatus,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(status, body, headers or {}, PROBLEM_TYPE)


# -- the context a handler gets ------------------------------------------------------------------


@dataclass
class Call:
    request: Request
    unit: BusinessUnit
    switches: Switches
    now: float
    params: dict[str, str]

    @property
    def visible_at(self) -> float:
        return self.now + self.switches.visibility_delay_s

    def json_body(self, substatus: str) -> tuple[Any, Response | None]:
        """The parsed body, or the 415/400 response ASP.NET would send."""
        kind = self.request.content_type.split(";")[0].strip().lower()
        if kind != "application/json" and not kind.endswith("+json"):
            return None, problem(
                415,
                "UnsupportedMediaType",
                "Send the body as JSON with Content-Type: application/json.",
                self.request.path,
            )
        if not self.request.body.strip():
            return None, invalid(
                {"": ["A non-empty request body is required."]}, substatus, self.request.path
            )
        try:
            return json.loads(self.request.body.decode("utf-8"), parse_constant=_reject_constant), None
        except UnicodeDecodeError:
            message = "The request body is not valid UTF-8."
        except json.JSONDecodeError as err:
            position = f"LineNumber: {err.lineno - 1} | BytePositionInLine: {err.colno - 1}"
            message = f"The JSON value is invalid. {position}."
        except ValueError:
            message = "The JSON value is invalid: NaN and Infinity are not JSON numbers."
        except RecursionError:  # System.Text.Json refuses depth > 64 the same way
            message = "The JSON value is invalid: it is nested too deeply."
        return None, invalid({"$": [message]}, substatus, self.request.path)

    def validated_body(
        self, substatus: str, validate: Callable[[Any, v.Errors], Any]
    ) -> tuple[Any, Response | None]:
        """The body as ``validate(body, errors)`` returns it, or the 415/400 response to send instead.

        A body is rejected when ``validate`` reports an error or returns None.
        """
        body, error = self.json_body(substatus)
        if error:
            return None, error
        errors = v.Errors()
        checked = validate(body, errors)
        if errors or checked is None:
            return None, invalid(errors.by_key, substatus, self.request.path)
        return checked, None

    def website_id(self, substatus: str) -> tuple[int | None, bool, Response | None]:
        """The optional ``websiteId`` query parameter: (value, given, error response)."""
        raw = self.request.query.get("websiteid")
        if raw is None or raw == "":
            return None, False, None
        try:
            return int(raw), True, None
        except ValueError:
            return (
                None,
                True,
                invalid({"websiteId": ["The value is not valid."]}, substatus, self.request.path),
            )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def invalid(errors: dict[str, list[str]], substatus: str, instance: str) -> Response:
    return problem(400, substatus, "See the errors member for details.", instance, errors=errors)


def not_found(call: Call, substatus: str, what: str) -> Response:
    if call.switches.not_found_style == "200_null":
        return Response(200, {"status": 0, "data": None})
    return problem(404, substatus, f"The {what} was not found.", call.request.path)


def _created(call: Call, errors: v.Errors, data: list[Any], identifier: str) -> Response:
    """201 for a batch write; with ``errors`` (style errors_2xx) in the shape ``item_error_shape`` says.

    :param identifier: the item member an ``identified_objects`` error names the item by.
    """
    if not errors:
        return Response(201, {"status": 0}, items=len(data))
    return Response(
        201,
        {"errors": _item_errors(call.switches.item_error_shape, errors, data, identifier)},
        items=len(data),
    )


def _item_errors(shape: str, errors: v.Errors, data: list[Any], identifier: str) -> Any:
    """The ``errors`` member of a 2xx in one of the shapes the real API might use ([UNK])."""
    if shape == "model_state":
        return errors.by_key
    if shape == "indexed_strings":
        return errors.lines()
    found: list[Any] = []
    for key, messages in errors.by_key.items():
        index = int(key[5 : key.index("]")]) if key.startswith("data[") and "]" in key else None
        item = data[index] if index is not None and index < len(data) else None
        for message in messages:
            if shape == "indexed_objects" and index is not None:
                found.append({"index": index, "message": message})
            elif shape == "identified_objects" and _member(item, identifier) is not None:
                name = "orderId" if identifier == "id" else identifier
                found.append({name: _member(item, identifier), "message": message})
            else:
                found.append(message)
    return found


def _member(item: Any, name: str) -> Any:
    """``item[name]`` matched without case (the API's members are case-insensitive), else None."""
    if not isinstance(item, dict):
        return None
    return next((value for key, value in item.items() if str(key).lower() == name.lower()), None)


def _batch_limit(call: Call, data: list[Any], substatus: str) -> Response | None:
    limit = call.switches.max_batch_size
    if limit is None or len(data) <= limit:
        return None
    if call.switches.batch_limit_status == 413:
        return problem(413, "BatchTooLarge", f"At most {limit} items per request.", call.request.path)
    message = f"The field data must be a string or array type with a maximum length of '{limit}'."
    return invalid({"data": [message]}, substatus, call.request.path)


def _rejected_indices(errors: v.Errors) -> int:
    return len({key.split("]")[0] for key in errors.by_key if key.startswith("data[")})


# -- customers -----------------------------------------------------------------------------------


def post_customers(call: Call) -> Response:
    substatus = "CustomerInvalidModelState"
    top, error = call.validated_body(
        substatus, lambda body, errors: v.batch_top(body, errors, v.CUSTOMER_MODES, with_match_by=True)
    )
    if error:
        return error
    mode, match_by, data = top
    unit = call.unit
    if call.switches.strict_match_by and match_by != unit.default_match_by:
        message = f"matchBy must be the business unit's default identification ({unit.default_match_by})."
        return invalid({"matchBy": [message]}, substatus, call.request.path)
    too_big = _batch_limit(call, data, substatus)
    if too_big:
        return too_big
    errors = v.Errors()
    items = [
        v.customer_item(
            raw,
            i,
            errors,
            match_by=match_by,
            customer_attributes=unit.settings("customer_attributes"),
            consents=unit.settings("consents"),
        )
        for i, raw in enumerate(data)
    ]
    ident = IDENTIFIER_FIELDS[match_by]
    with unit.lock:
        unit.note_batch(len(data))
        plan: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item is None:
                continue
            key = identity_key(ident, item[ident])
            exists = key in seen or unit.find_customer_id(ident, item[ident]) is not None
            # [UNK] Add on an existing / Update on a missing customer: rejected like an invalid item.
            if mode == "Add" and exists:
                errors.add(f"data[{i}].{ident}", f"A customer with this {ident} already exists (mode Add).")
            elif mode == "Update" and not exists:
                errors.add(f"data[{i}].{ident}", f"No customer with this {ident} exists (mode Update).")
            else:
                plan.append(item)
                seen.add(key)
        rejected = _rejected_indices(errors)
        unit.count("items_rejected", rejected)
        if errors and call.switches.item_error_style == "reject_batch":
            return invalid(errors.by_key, substatus, call.request.path)
        for item in plan:
            customer_id = unit.find_customer_id(ident, item[ident])
            old = unit.latest_customer(customer_id) if customer_id is not None else None
            unit.write_customer(customer_id, merge_customer(old, item), call.visible_at)
            unit.count("customers_updated" if old else "customers_created")
    return _created(call, errors, data, ident)


def merge_customer(old: dict[str, Any] | None, item: dict[str, Any]) -> dict[str, Any]:
    """Fields sent replace stored ones; omitted (or null) fields are kept ([INF] "update").

    Attributes merge by name and consents by id."""
    if old is None:
        merged: dict[str, Any] = {name: None for name in CUSTOMER_FIELDS}
        merged.update(customAttributes=[], consentsData={"consents": []})
    else:
        # Stored versions are never mutated in place (each write stores new lists), so a shallow copy is safe.
        merged = dict(old)
    for key, value in item.items():
        if key == "customAttributes":
            by_name = {attr["name"].lower(): attr for attr in merged["customAttributes"]}
            by_name.update({attr["name"].lower(): attr for attr in value})
            merged["customAttributes"] = list(by_name.values())
        elif key == "consentsData":
            by_id = {consent["id"]: consent for consent in merged["consentsData"]["consents"]}
            by_id.update({consent["id"]: consent for consent in value["consents"]})
            merged["consentsData"] = {"consents": list(by_id.values())}
        else:
            merged[key] = value
    return merged


def _customer_value(call: Call, field_name: str) -> tuple[Any, Response | None]:
    """The identifier of a customer path (an integer for ``/customers/id/...``), or the 400 to send."""
    value = call.params["value"]
    if field_name != "id":
        return value, None
    try:
        return int(value), None
    except ValueError:
        return None, invalid(
            {"id": ["The value is not valid."]}, "CustomerInvalidModelState", call.request.path
        )


def _get_customer(field_name: str) -> Callable[[Call], Response]:
    def handler(call: Call) -> Response:
        value, error = _customer_value(call, field_name)
        if error:
            return error
        with call.unit.lock:
            data = call.unit.visible_customer(field_name, value, call.now)
        if data is None:
            return not_found(call, "CustomerNotFound", "customer")
        return Response(200, {"status": 0, "data": data})

    return handler


def _delete_customer(field_name: str) -> Callable[[Call], Response]:
    """Customer DELETE: [UNK] paths (mirroring the GETs) and anonymise parameter (``?anonymize=true``)."""

    def handler(call: Call) -> Response:
        value, error = _customer_value(call, field_name)
        if error:
            return error
        anonymize = call.request.query.get("anonymize", "false").lower()
        if anonymize not in ("true", "false"):
            errors = {"anonymize": ["The value must be true or false."]}
            return invalid(errors, "CustomerInvalidModelState", call.request.path)
        unit = call.unit
        with unit.lock:
            customer_id = value if field_name == "id" else unit.find_customer_id(field_name, value)
            latest = unit.latest_customer(customer_id) if customer_id is not None else None
            if latest is None:
                return problem(404, "CustomerNotFound", "The customer was not found.", call.request.path)
            if anonymize == "true":
                kept = {"id": latest["id"], "customAttributes": [], "consentsData": {"consents": []}}
                blank = merge_customer(None, {})
                unit.write_customer(latest["id"], {**blank, **kept, "isAnonymized": True}, call.visible_at)
                unit.count("customers_anonymized")
            else:
                unit.remove_customer(latest["id"], call.visible_at)
                unit.count("customers_deleted")
        if call.switches.delete_status == 204:
            return Response(204)
        return Response(200, {"status": 0})

    return handler


# -- orders --------------------------------------------------------------------------------------


def post_orders(call: Call) -> Response:
    substatus = "OrderInvalidModelState"
    top, error = call.validated_body(
        substatus, lambda body, errors: v.batch_top(body, errors, v.ORDER_MODES, with_match_by=False)
    )
    if error:
        return error
    mode, _, data = top
    too_big = _batch_limit(call, data, substatus)
    if too_big:
        return too_big
    errors = v.Errors()
    unit = call.unit
    required_identifier = None
    if call.switches.strict_match_by:
        required_identifier = IDENTIFIER_FIELDS[unit.default_match_by]
    items = [
        v.order_item(
            raw,
            i,
            errors,
            accept_cancelled=call.switches.accept_cancelled,
            total_required=call.switches.order_total_required,
            required_identifier=required_identifier,
            order_attributes=unit.settings("order_attributes"),
            product_attributes=unit.settings("product_attributes"),
        )
        for i, raw in enumerate(data)
    ]
    with unit.lock:
        unit.note_batch(len(data))
        plan = []
        seen: set[tuple[int | None, str]] = set()
        for i, item in enumerate(items):
            if item is None:
                continue
            key = (item["websiteId"], item["id"])
            exists = key in seen or unit.has_order(key)
            # [UNK] Add on an existing / Replace on a missing order: rejected like an invalid item.
            if mode == "Add" and exists:
                errors.add(f"data[{i}].id", "An order with this id already exists (mode Add).")
            elif mode == "Replace" and not exists:
                errors.add(f"data[{i}].id", "No order with this id exists (mode Replace).")
            else:
                plan.append((key, item))
                seen.add(key)
        unit.count("items_rejected", _rejected_indices(errors))
        if errors and call.switches.item_error_style == "reject_batch":
            return invalid(errors.by_key, substatus, call.request.path)
        for key, item in plan:
            replaced = unit.has_order(key)
            # [UNK] whether a replace revives a deleted order: here it does (a full new payload).
            unit.write_order(key, {**item, "isDeleted": False}, call.visible_at)
            unit.count("orders_replaced" if replaced else "orders_created")
    return _created(call, errors, data, "id")


def get_order(call: Call) -> Response:
    website_id, given, error = call.website_id("OrderInvalidModelState")
    if error:
        return error
    with call.unit.lock:
        key = call.unit.find_order_key(call.params["order_id"], website_id, website_given=given)
        data = call.unit.visible_order(key, call.now) if key else None
    if data is None:
        return not_found(call, "OrderNotFound", "order")
    return Response(200, {"status": 0, "data": data})


def _missing_order(call: Call, field_name: str) -> Response:
    if call.switches.missing_order_status == 400:
        return invalid(
            {field_name: ["No order with this id exists."]}, "OrderInvalidModelState", call.request.path
        )
    return problem(404, "OrderNotFound", "The order was not found.", call.request.path)


def put_order_status(call: Call) -> Response:
    substatus = "OrderInvalidModelState"
    accept_cancelled = call.switches.accept_cancelled
    change, error = call.validated_body(
        substatus, lambda body, errors: v.status_change(body, errors, accept_cancelled=accept_cancelled)
    )
    if error:
        return error
    unit = call.unit
    with unit.lock:
        key = unit.find_order_key(
            change["orderId"], change["websiteId"], website_given=change["websiteId"] is not None
        )
        latest = unit.latest_order(key) if key else None
        if key is None or latest is None:
            return _missing_order(call, "orderId")
        unit.write_order(key, {**latest, "status": change["orderStatus"]}, call.visible_at)
        unit.count("status_changes")
    return Response(200, {"status": 0})


def delete_order(call: Call) -> Response:
    website_id, given, error = call.website_id("OrderInvalidModelState")
    if error:
        return error
    unit = call.unit
    with unit.lock:
        key = unit.find_order_key(call.params["order_id"], website_id, website_given=given)
        latest = unit.latest_order(key) if key else None
        if key is None or latest is None:
            return _missing_order(call, "id")
        # Soft delete (IsDeleted); deleting again is a no-op that succeeds ([UNK]).
        if not latest.get("isDeleted"):
            unit.write_order(key, {**latest, "isDeleted": True}, call.visible_at)
            unit.count("orders_deleted")
    if call.switches.delete_status == 204:
        return Response(204)
    return Response(200, {"status": 0})


def put_order_registration(call: Call) -> Response:
    """[UNK] ``PUT /orders``: register an order the platform does not know yet; recorded, nothing else."""
    substatus = "OrderInvalidModelState"
    registration, error = call.validated_body(substatus, v.order_registration)
    if error:
        return error
    with call.unit.lock:
        call.unit.add_order_registration(registration)
        call.unit.count("order_registrations")
    return Response(200, {"status": 0})


# -- scenario custom events ----------------------------------------------------------------------


def post_custom_event(call: Call) -> Response:
    substatus = "ScenarioCustomEventInvalidModelState"
    event, error = call.validated_body(substatus, v.custom_event)
    if error:
        return error
    unit = call.unit
    with unit.lock:
        matched = _event_customer(unit, event)
        if matched is None and call.switches.event_unknown_customer != "accept":
            if call.switches.event_unknown_customer == "404":
                return problem(404, "CustomerNotFound", "The customer was not found.", call.request.path)
            if call.switches.event_unknown_customer == "201_errors":
                return Response(201, {"errors": ["customerId: The customer does not exist."]}, items=1)
            return invalid({"customerId": ["The customer does not exist."]}, substatus, call.request.path)
        received = datetime.fromtimestamp(call.now, timezone.utc).isoformat().replace("+00:00", "Z")
        unit.add_event({**event, "matchedCustomerId": matched, "receivedAt": received})
        unit.count("events")
    return Response(201, {"status": 0}, items=1)


def _event_customer(unit: BusinessUnit, event: dict[str, Any]) -> int | None:
    """The customer an event names ([UNK] precedence: the order of the documented field list)."""
    if "customerId" in event and unit.latest_customer(event["customerId"]) is not None:
        return int(event["customerId"])
    for name, field_name in (
        ("customerEmail", "email"),
        ("customerPhone", "phone"),
        ("customerCrmId", "crmId"),
    ):
        if name in event:
            found = unit.find_customer_id(field_name, event[name])
            if found is not None:
                return found
    for name, algorithm in (("customerEmailMd5", "md5"), ("customerEmailSha256", "sha256")):
        if name in event:
            found = unit.customer_by_hash(algorithm, event[name])
            if found is not None:
                return found
    return None


# -- settings ------------------------------------------------------------------------------------


def _list_settings(name: str) -> Callable[[Call], Response]:
    def handler(call: Call) -> Response:
        return Response(200, {"status": 0, "data": [item.public() for item in call.unit.settings(name)]})

    return handler


# -- exports ([UNK] beyond the POST bodies) ---


def post_customer_export(call: Call) -> Response:
    substatus = "ExportInvalidModelState"
    request, error = call.validated_body(
        substatus,
        lambda body, errors: v.customer_export(
            body,
            errors,
            customer_attributes=call.unit.settings("customer_attributes"),
            consents=call.unit.settings("consents"),
        ),
    )
    if error:
        return error
    return _queue_export(call, {"kind": "customers", **request})


def post_activity_export(call: Call) -> Response:
    substatus = "ExportInvalidModelState"
    request, error = call.validated_body(substatus, v.activity_export)
    if error:
        return error
    return _queue_export(call, {"kind": "channel_activity", **request})


def _queue_export(call: Call, request: dict[str, Any]) -> Response:
    with call.unit.lock:
        export_id = call.unit.add_export(request, call.visible_at)
        call.unit.count("exports")
    return Response(201, {"status": 0, "data": {"exportId": export_id, "status": "InProgress"}})


def _find_export(call: Call) -> tuple[float, dict[str, Any]] | None:
    raw = call.params["export_id"]
    return call.unit.export(int(raw)) if raw.isdigit() else None


def get_export(call: Call) -> Response:
    """Status of an export: ``InProgress`` until ``visibility_delay_s`` has passed, then ``Completed`` with a
    download link."""
    found = _find_export(call)
    if found is None:
        return not_found(call, "ExportNotFound", "export")
    ready_at, request = found
    done = call.now >= ready_at
    data = {
        "exportId": request["exportId"],
        "status": "Completed" if done else "InProgress",
        "downloadUrl": f"http://{call.request.host}/exports/{request['exportId']}/download" if done else None,
    }
    return Response(200, {"status": 0, "data": data})


def download_export(call: Call) -> Response:
    """The CSV of a completed export. The emulator has no segments (every customer is exported) and sends no
    messages (an activity export has a header only)."""
    found = _find_export(call)
    if found is None or call.now < found[0]:
        return problem(404, "ExportNotFound", "The export was not found or is not ready.", call.request.path)
    request = found[1]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if request["kind"] == "channel_activity":
        writer.writerow(["channel", "eventType", "eventDate", "customerId", "customerEmail"])
    else:
        columns = _export_columns(call.unit, request)
        writer.writerow([label for label, _ in columns])
        for customer in call.unit.customers:
            writer.writerow([_cell(getter(customer)) for _, getter in columns])
    return Response(200, buffer.getvalue(), content_type="text/csv; charset=utf-8")


def _export_columns(
    unit: BusinessUnit, request: dict[str, Any]
) -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    system = list(CUSTOMER_FIELDS)
    wanted = request["systemAttributes"]
    if wanted and not any(item["all"] for item in wanted):
        names = {item["name"].lower() for item in wanted if item["name"]}
        system = [f for f in CUSTOMER_FIELDS if f.lower() in names]
    elif not wanted:
        system = ["id"]
    columns: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        (f, partial(_field, name=f)) for f in system
    ]
    for group, setting, key in (
        ("customAttributes", "customer_attributes", "customAttributes"),
        ("consents", "consents", "consentsData"),
    ):
        chosen = request[group]
        items = unit.settings(setting)
        if not any(item["all"] for item in chosen):
            ids = {item["id"] for item in chosen if item["id"] is not None}
            names = {item["name"].lower() for item in chosen if item["name"]}
            items = tuple(i for i in items if i.id in ids or i.name.lower() in names)
        for item in items:
            if key == "customAttributes":
                columns.append((item.name, partial(_attribute, name=item.name)))
            else:
                columns.append((item.name, partial(_consent, consent_id=item.id)))
    return columns


def _field(customer: dict[str, Any], name: str) -> Any:
    return customer.get(name)


def _attribute(customer: dict[str, Any], name: str) -> Any:
    return next((a["value"] for a in customer["customAttributes"] if a["name"] == name), None)


def _consent(customer: dict[str, Any], consent_id: int) -> Any:
    return next((c["value"] for c in customer["consentsData"]["consents"] if c["id"] == consent_id), None)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- routing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Callable[[Call], Response]
    enabled: Callable[[Switches], bool] = lambda switches: True

    @property
    def parts(self) -> list[str]:
        return self.template.strip("/").split("/")

    def match(self, segments: list[str]) -> dict[str, str] | None:
        parts = self.parts
        if len(parts) != len(segments):
            return None
        params = {}
        for part, segment in zip(parts, segments, strict=False):
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part.lower() != segment.lower():
                return None
        return params


ROUTES: tuple[Route, ...] = (
    Route("POST", "/customers", post_customers),
    Route("GET", "/customers/id/{value}", _get_customer("id")),
    Route("GET", "/customers/email/{value}", _get_customer("email")),
    Route("GET", "/customers/phone/{value}", _get_customer("phone")),
    Route("GET", "/customers/crmId/{value}", _get_customer("crmId")),
    Route("DELETE", "/customers/id/{value}", _delete_customer("id")),
    Route("DELETE", "/customers/email/{value}", _delete_customer("email")),
    Route("DELETE", "/customers/phone/{value}", _delete_customer("phone")),
    Route("DELETE", "/customers/crmId/{value}", _delete_customer("crmId")),
    Route("POST", "/orders", post_orders),
    Route("PUT", "/orders/status", put_order_status),
    Route("PUT", "/orders", put_order_registration),
    Route("GET", "/orders/id/{order_id}", get_order, lambda s: "id" in s.order_get_paths),
    Route("GET", "/orders/{order_id}", get_order, lambda s: "bare" in s.order_get_paths),
    Route("DELETE", "/orders/{order_id}", delete_order),
    Route("POST", "/scenariocustomevents", post_custom_event),
    Route("POST", "/exports/customers", post_customer_export),
    Route("POST", "/exports/channels/activity", post_activity_export),
    Route("GET", "/exports/{export_id}", get_export),
    Route("GET", "/exports/{export_id}/download", download_export),
    *(Route("GET", f"/{resource}", _list_settings(name)) for name, resource in SETTINGS_RESOURCES.items()),
)


def find_route(
    method: str, segments: list[str], switches: Switches
) -> tuple[Route | None, dict[str, str], list[str]]:
    """The route serving ``method`` + ``segments``, its parameters, and the methods the path allows."""
    allowed: list[str] = []
    for route in ROUTES:
        params = route.match(segments)
        if params is None or not route.enabled(switches):
            continue
        if route.method == method:
            return route, params, allowed
        allowed.append(route.method)
    return None, {}, allowed


def route_template(method: str, path: str, switches: Switches | None = None) -> str:
    """The route a path belongs to, e.g. ``/customers/email/{value}`` (safe to log: no identifiers)."""
    segments = Request(method, path, {}).segments
    route, _, _ = find_route(method.upper(), segments, switches or Switches())
    return route.template if route else "(no route)"


def dispatch(unit: BusinessUnit, request: Request, switches: Switches, now: float) -> Response:
    """Serve one authenticated request."""
    route, params, allowed = find_route(request.method, request.segments, switches)
    if route is None:
        if allowed:
            return problem(
                405,
                "MethodNotAllowed",
                f"Use {', '.join(sorted(set(allowed)))} on this path.",
                request.path,
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        return problem(404, "ResourceNotFound", "No such API resource.", request.path)
    unit.hidden_reads = switches.hidden_reads
    return route.handler(Call(request, unit, switches, now, params))
