"""Hooks for the ExpertSender customer data platform (ECDP) REST API.

:class:`ExpertSenderHook` (``requests``) serves operators, sensors and the bulk write engine;
:class:`ExpertSenderAsyncHook` (``aiohttp``) serves the triggers of deferrable sensors. Both send every
request through one private funnel: this module checks the arguments (``arguments.py``), has the bodies
built and validated by :mod:`~airflow_provider_expertsender.models` (the operators' models; ``validate=False``
sends API-shaped records as given) and builds the request,
``hooks/_transport.py`` sends it once (the ``x-api-key`` header, timeouts, no redirects, failures and
``hooks/_responses.py``'s error mapping to the exceptions of :mod:`airflow_provider_expertsender.exceptions`)
and :func:`~airflow_provider_expertsender.retry.call_with_retries` repeats what
:class:`~airflow_provider_expertsender.retry.RetryPolicy` allows.

Logs name the request by method and path *template* with status, duration and record count; never the key,
an identifier or a body (unless the connection extra ``log_payloads`` is true).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender import CONN_FIELDS, CONN_TYPE, HIDDEN_FIELDS, PLACEHOLDERS, RELABELING
from airflow_provider_expertsender._compat import BaseHook, classic_form_parts, get_async_connection
from airflow_provider_expertsender.arguments import one_identifier, require
from airflow_provider_expertsender.connection import ExpertSenderConnectionConfig, describe_unknown_extras
from airflow_provider_expertsender.endpoints import (
    CONNECTION_TEST,
    CUSTOMER_LOOKUPS,
    ORDER_GET_PATHS,
    SETTINGS_LISTS,
    Api,
    Endpoint,
    is_idempotent_mode,
    normalize_setting,
)
from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderInvalidInputError,
    ExpertSenderInvalidRecordError,
    ExpertSenderTransportError,
    InvalidRecord,
)
from airflow_provider_expertsender.hooks._responses import (
    ItemError,
    RequestInfo,
    WriteResult,
    parse_item_errors,
    refusal_reason,
    scrub,
    unwrap_list,
    unwrap_record,
    unwrap_single_write,
    write_result,
)
from airflow_provider_expertsender.hooks._transport import (
    Answer,
    asend,
    encode,
    new_async_session,
    new_session,
    request_info,
    send,
)
from airflow_provider_expertsender.retry import RetryPolicy, acall_with_retries, call_with_retries

if TYPE_CHECKING:
    import aiohttp
    import requests

# ItemError, WriteResult, parse_item_errors and refusal_reason are defined in hooks/_responses.py (the one
# place that reads response shapes) and public here: a caller that bisects a refused batch (the bulk engine)
# reads a 400's named records with parse_item_errors(err.errors, size, records), its reason with
# refusal_reason(err).
__all__ = [
    "ExpertSenderAsyncHook",
    "ExpertSenderHook",
    "ItemError",
    "WriteResult",
    "parse_item_errors",
    "refusal_reason",
    "scrub",
]

#: The connection id every hook, operator and sensor uses unless told otherwise.
DEFAULT_CONN_ID = "expertsender_default"
_CONN_PREFIX = re.compile(r"^Connection '[^']*': ")

# -- argument checks shared by both hooks ---------------------------------------------------------------

_VALIDATE_FALSE = "Fix the records, or pass validate=False to send API-shaped records exactly as given."


def _records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(records, (str, bytes, Mapping)):
        raise ExpertSenderConfigError("records must be a sequence of dictionaries, not a single value.")
    batch = list(records)
    if not batch:
        raise ExpertSenderConfigError("records is empty: there is nothing to send.")
    for index, record in enumerate(batch):
        if not isinstance(record, Mapping):
            raise ExpertSenderConfigError(
                f"records[{index}] must be a dictionary (API-shaped record), got {type(record).__name__}."
            )
    return batch


def _validated(
    batch: list[Mapping[str, Any]], payload: Callable[[Mapping[str, Any], int], dict[str, Any]]
) -> list[Mapping[str, Any]]:
    """Every record through its model (``payload(record, index)``), or nothing sent when any is invalid."""
    valid: list[Mapping[str, Any]] = []
    invalid: list[InvalidRecord] = []
    for index, record in enumerate(batch):
        try:
            valid.append(payload(record, index))
        except ExpertSenderInvalidRecordError as err:
            invalid.append(err.record)
    if invalid:
        raise ExpertSenderInvalidInputError(invalid, advice=_VALIDATE_FALSE)
    return valid


def _mode_is_safe(mode: str, retry_unsafe: bool) -> bool:
    return retry_unsafe or is_idempotent_mode(mode)


class _ExpertSenderBaseHook(BaseHook):
    """What both hooks share: the connection type Airflow reads, and the id of the connection they use."""

    conn_name_attr = "expertsender_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "ExpertSender"

    def __init__(self, expertsender_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expertsender_conn_id = expertsender_conn_id
        self._config: ExpertSenderConnectionConfig | None = None


class ExpertSenderHook(_ExpertSenderBaseHook):
    """Talk to the ExpertSender ECDP API of one business unit (one connection = one API key).

    The hook is safe to share between threads: one ``requests.Session`` with a connection pool sized for
    the bulk engine's thread pool, no cookies, configuration read once.

    :param expertsender_conn_id: id of an ``expertsender`` connection: the password is the API key, the host
        the base URL (``https://api.ecdp.app`` when empty), the extras tune timeouts, retries and batching.
    """

    def __init__(self, expertsender_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(expertsender_conn_id, **kwargs)
        self._lock = threading.RLock()
        self._policy: RetryPolicy | None = None
        self._session: requests.Session | None = None
        self._sleep: Callable[[float], None] = time.sleep

    # -- connection form ---------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form on Airflow 2.10 (3.2+ reads the same description from the provider info)."""
        return {
            "hidden_fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": dict(PLACEHOLDERS),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the Airflow 2.10 connection form, rendered from ``CONN_FIELDS``."""
        form = classic_form_parts()
        if form is None:  # Airflow 3: the React UI reads "conn-fields" from the provider info
            return {}
        BS3TextFieldWidget, lazy_gettext, IntegerField, StringField, NumberRange, Optional = form
        # Airflow 2.10 accepts only IntegerField, PasswordField, StringField and BooleanField (any other class
        # makes ProvidersManager drop the whole hook), so decimal seconds are a StringField that
        # ExpertSenderConnectionConfig parses and validates.
        return {
            name: (
                IntegerField(
                    lazy_gettext(spec["label"]),
                    widget=BS3TextFieldWidget(),
                    description=spec["description"],
                    validators=[Optional(), NumberRange(min=spec["minimum"], max=spec["maximum"])],
                )
                if spec["type"] == "integer"
                else StringField(
                    lazy_gettext(spec["label"]), widget=BS3TextFieldWidget(), description=spec["description"]
                )
            )
            for name, spec in CONN_FIELDS.items()
        }

    # -- configuration and session -----------------------------------------------------------------------

    @property
    def config(self) -> ExpertSenderConnectionConfig:
        """The connection, parsed and validated once (raises ``ExpertSenderConfigError`` when invalid)."""
        if self._config is None:
            with self._lock:
                if self._config is None:
                    conn = self.get_connection(self.expertsender_conn_id)
                    self._config = ExpertSenderConnectionConfig.from_connection(conn)
        return self._config

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of the connection's extras."""
        if self._policy is None:
            self._policy = RetryPolicy.from_config(self.config)
        return self._policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        """Replace the policy (the bulk engine wraps it to share 429s between its threads)."""
        self._policy = policy

    def get_conn(self) -> requests.Session:
        """The hook's ``requests.Session`` (created once; shared by every thread using the hook)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = new_session(self.config)
        return self._session

    def close(self) -> None:
        """Close the pooled connections (the hook opens a new session if used again)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> ExpertSenderHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- API methods -------------------------------------------------------------------------------------

    def upsert_customers(
        self,
        records: Sequence[Mapping[str, Any]],
        mode: str = "AddOrUpdate",
        match_by: str = "Email",
        *,
        retry_unsafe: bool = False,
        validate: bool = True,
    ) -> WriteResult:
        """``POST /customers``: add, update or upsert one batch of customers.

        Records are validated and converted by the bulk operators' model (``models.customer_payload``):
        snake_case or camelCase keys, so ``{"email": ..., "first_name": "Ada"}`` is sent as ``firstName``.
        When any record is invalid (an unknown key, a bad e-mail...) nothing is sent.

        :param records: customer dicts (snake_case or the API's camelCase).
        :param mode: ``Add``, ``Update`` or ``AddOrUpdate`` (any spelling ``models.normalize_customer_mode``
            accepts).
        :param match_by: ``Email``, ``PhoneNumber``, ``CrmId``, ``GUID`` or ``VisitorId`` (any spelling).
        :param retry_unsafe: repeat an ``Add`` after a timeout or 5xx although it may have been applied.
        :param validate: ``False`` sends records exactly as given: for callers whose records are already
            API-shaped (validated payloads, e.g. the bulk engine's).
        :raises ExpertSenderInvalidInputError: a record is invalid (``validate=True``); nothing was sent. The
            message names each invalid record by its position and the rules it broke.
        :raises ExpertSenderValidationError: the API rejected the batch (400).
        """
        from airflow_provider_expertsender import models

        batch = _records(records)
        mode = models.normalize_customer_mode(mode)
        match_by = models.normalize_match_by(match_by)
        if validate:
            batch = _validated(
                batch, lambda record, index: models.customer_payload(record, match_by=match_by, index=index)
            )
        body = {"mode": mode, "matchBy": match_by, "data": batch}
        return self._write(Api.UPSERT_CUSTOMERS, body, len(batch), _mode_is_safe(mode, retry_unsafe))

    def register_orders(
        self,
        records: Sequence[Mapping[str, Any]],
        mode: str = "AddOrReplace",
        *,
        retry_unsafe: bool = False,
        validate: bool = True,
    ) -> WriteResult:
        """``POST /orders``: add or replace one batch of orders.

        Records are validated and converted by the bulk operators' model (``models.order_payload``); when any
        is invalid nothing is sent.

        :param records: order dicts (snake_case or the API's camelCase).
        :param mode: ``Add``, ``AddOrReplace`` or ``Replace`` (any spelling ``models.normalize_order_mode``
            accepts).
        :param retry_unsafe: repeat an ``Add`` after a timeout or 5xx although it may have been applied.
        :param validate: ``False`` sends records exactly as given (already API-shaped payloads).
        :raises ExpertSenderInvalidInputError: a record is invalid (``validate=True``); nothing was sent.
        """
        from airflow_provider_expertsender import models

        batch = _records(records)
        mode = models.normalize_order_mode(mode)
        if validate:
            batch = _validated(batch, lambda record, index: models.order_payload(record, index=index))
        body = {"mode": mode, "data": batch}
        return self._write(Api.REGISTER_ORDERS, body, len(batch), _mode_is_safe(mode, retry_unsafe))

    def get_customer(
        self,
        *,
        customer_id: int | str | None = None,
        email: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
    ) -> dict[str, Any]:
        """Fetch one customer by exactly one identifier.

        :raises ExpertSenderNotFoundError: no such customer (404, or ``data: null``).
        """
        kind, value = _customer_lookup(customer_id=customer_id, email=email, phone=phone, crm_id=crm_id)
        answer = self._call(CUSTOMER_LOOKUPS[kind], {"value": value})
        return unwrap_record(answer.body, answer.request)

    def get_order(self, order_id: str) -> dict[str, Any]:
        """Fetch one order by its id (path chosen by the connection extra ``order_get_path``).

        :raises ExpertSenderNotFoundError: no such order.
        """
        endpoint = ORDER_GET_PATHS[self.config.order_get_path]
        answer = self._call(endpoint, {"order_id": _order_id(order_id, "get_order")})
        return unwrap_record(answer.body, answer.request)

    def update_order_status(
        self, order_id: str, status: str, website_id: int | None = None, *, validate: bool = True
    ) -> dict[str, Any]:
        """``PUT /orders/status``: change the status of an existing order.

        :param order_id: the order's id.
        :param status: ``placed``, ``paid``, ``completed`` or ``canceled`` in any case (``Cancelled``
            accepted), as ``models.status_change_payload`` checks it.
        :param website_id: the website the order belongs to, when orders are kept per website.
        :param validate: ``False`` sends the values exactly as given (already in the API's spelling).
        :return: the response's ``data`` object, ``{}`` when the API returns none.
        """
        from airflow_provider_expertsender.models import status_change_payload

        body = status_change_payload(order_id, status, website_id, validate=validate)
        answer = self._call(Api.UPDATE_ORDER_STATUS, body=body)
        return unwrap_single_write(answer.status, answer.body, answer.request, self.config.secrets)

    def delete_order(self, order_id: str) -> None:
        """``DELETE /orders/{id}``: mark the order deleted (a soft delete)."""
        answer = self._call(Api.DELETE_ORDER, {"order_id": _order_id(order_id, "delete_order")})
        unwrap_single_write(answer.status, answer.body, answer.request, self.config.secrets)

    def send_custom_event(
        self,
        custom_event_id: int,
        *,
        customer_id: int | str | None = None,
        email: str | None = None,
        email_md5: str | None = None,
        email_sha256: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
        data_fields: list[dict[str, Any]] | dict[str, Any] | None = None,
        retry_unsafe: bool = False,
        validate: bool = True,
    ) -> dict[str, Any]:
        """``POST /scenariocustomevents``: fire a scenario custom event for one customer.

        The body is built and validated by ``models.custom_event_payload``, as the operator's is. Each call
        fires an event, so a request that may have reached the server (read timeout, dropped connection, 5xx)
        is not repeated unless ``retry_unsafe`` is true; the error then has ``maybe_applied=True``.

        :param custom_event_id: id of the custom event (Automation -> Scenarios -> Custom events).
        :param data_fields: ``[{"name", "type", "value"}]`` or a ``{name: value}`` dict whose Python types
            give the types (see ``models.data_fields_payload``).
        :param retry_unsafe: accept that a repeated request may fire the event twice.
        :param validate: ``False`` sends the values exactly as given (``data_fields`` then API-shaped).
        :return: the response's ``data`` object, ``{}`` when the API returns none.
        :raises ExpertSenderConfigError: zero or several customer identifiers.
        :raises ExpertSenderInvalidRecordError: an invalid value (``validate=True``); nothing was sent.
        """
        from airflow_provider_expertsender.models import custom_event_payload

        body = custom_event_payload(
            custom_event_id,
            customer_id=customer_id,
            email=email,
            email_md5=email_md5,
            email_sha256=email_sha256,
            phone=phone,
            crm_id=crm_id,
            data_fields=data_fields,
            validate=validate,
        )
        answer = self._call(Api.SEND_CUSTOM_EVENT, body=body, idempotent=retry_unsafe)
        return unwrap_single_write(answer.status, answer.body, answer.request, self.config.secrets)

    def list_settings(self, setting: str) -> list[dict[str, Any]]:
        """One settings list: ``customer_attributes``, ``consents``, ``order_attributes`` or
        ``product_attributes`` (case and ``-`` for ``_`` forgiven).
        """
        answer = self._call(SETTINGS_LISTS[normalize_setting(setting)])
        return unwrap_list(answer.body, answer.request)

    def list_customer_attributes(self) -> list[dict[str, Any]]:
        """``GET /customerattributes``: the custom customer attributes (``id``, ``name``, ``type``)."""
        return self.list_settings("customer_attributes")

    def list_consents(self) -> list[dict[str, Any]]:
        """``GET /customerconsents``: the consent lists (``id``, ``name``, ``type``)."""
        return self.list_settings("consents")

    def list_order_attributes(self) -> list[dict[str, Any]]:
        """``GET /orderattributes``: the order attributes (``id``, ``name``, ``type``)."""
        return self.list_settings("order_attributes")

    def list_product_attributes(self) -> list[dict[str, Any]]:
        """``GET /productattributes``: the product attributes (``id``, ``name``, ``type``)."""
        return self.list_settings("product_attributes")

    def test_connection(self) -> tuple[bool, str]:
        """One read-only request (``GET /customerattributes``, no retries); never raises.

        Also fails when the connection has an extra this provider does not know (a misspelt ``read_timout``
        would otherwise be ignored). Server text in the message is cut short and never repeats the API key.

        :return: ``(True, message)`` when the API key was accepted, else ``(False, what went wrong)``.
        """
        ok, message = self._test_connection()
        return ok, scrub(message, self._config.secrets if self._config else (), limit=2000)

    def _test_connection(self) -> tuple[bool, str]:
        try:
            config = self.config
            answer = self._call(CONNECTION_TEST, policy=self.retry_policy.without_retries())
            count = len(unwrap_list(answer.body, answer.request))
        except ExpertSenderConfigError as err:
            # Airflow tests a form under a random temporary connection id: the user knows which one this is.
            return False, _CONN_PREFIX.sub("The connection: ", err.message, count=1)
        except ExpertSenderAuthError as err:
            where = f"{self._config.base_url}: " if self._config else ""
            return False, f"{where}the API key was rejected (HTTP {err.status}). {_fix_key(err)}"
        except ExpertSenderTransportError as err:
            return False, f"Could not reach the ExpertSender API: {err.message}"
        except Exception as err:
            return False, getattr(err, "message", None) or f"{type(err).__name__}: {err}"
        connected = f"Connected to {config.base_url}: the API key was accepted ({count} customer attributes)."
        if config.unknown_extras:
            return False, f"{connected} But {describe_unknown_extras(config.unknown_extras)}"
        return True, connected

    # -- the request funnel ------------------------------------------------------------------------------

    def _write(self, endpoint: Endpoint, body: Mapping[str, Any], sent: int, idempotent: bool) -> WriteResult:
        answer = self._call(endpoint, body=body, idempotent=idempotent, items=sent)
        result = write_result(answer.status, answer.body, sent, body.get("data"), self.config.secrets)
        if result.item_errors:
            self.log.info(
                "ExpertSender %s: %s of %s items reported as failed",
                answer.request.label,
                len(result.rejected_indexes) or len(result.item_errors),
                sent,
            )
        return result

    def _call(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object] | None = None,
        *,
        body: object = None,
        idempotent: bool = True,
        items: int | None = None,
        policy: RetryPolicy | None = None,
    ) -> Answer:
        request = request_info(endpoint, params)
        data = encode(body, request) if body is not None else None
        policy = policy or self.retry_policy
        deadline = time.monotonic() + policy.max_elapsed  # no attempt outlasts the call's budget
        return call_with_retries(
            lambda: self._send_once(request, data, items, deadline),
            policy=policy,
            idempotent=idempotent,
            label=request.label,
            sleep=self._sleep,
            logger=self.log,
        )

    def _send_once(
        self, request: RequestInfo, data: bytes | None, items: int | None, deadline: float | None = None
    ) -> Answer:
        """One attempt, ending by ``deadline`` (``time.monotonic()``) at the latest (the seam the
        fault-injection tests wrap)."""
        return send(self.get_conn(), self.config, request, data, items, self.log, deadline)


class ExpertSenderAsyncHook(_ExpertSenderBaseHook):
    """Asynchronous reads for triggers: :meth:`get_customer` and :meth:`get_order` over ``aiohttp``.

    Same connection, error mapping and retry policy as :class:`ExpertSenderHook`. Use it as
    ``async with ExpertSenderAsyncHook(...) as hook:`` to reuse one HTTP session across calls; otherwise each
    call opens and closes its own.

    :param expertsender_conn_id: id of an ``expertsender`` connection.
    """

    def __init__(self, expertsender_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(expertsender_conn_id, **kwargs)
        self._session: aiohttp.ClientSession | None = None
        self._sleep: Callable[[float], Awaitable[object]] = asyncio.sleep

    async def get_config(self) -> ExpertSenderConnectionConfig:
        """Read the connection without blocking the event loop (works in Airflow 3's triggerer)."""
        if self._config is None:
            from asgiref.sync import sync_to_async

            conn = await get_async_connection(self, self.expertsender_conn_id)
            # extra_dejson and mask_secret talk to the supervisor synchronously on Airflow 3: use a thread.
            self._config = await sync_to_async(ExpertSenderConnectionConfig.from_connection)(conn)
        return self._config

    async def get_customer(
        self,
        *,
        customer_id: int | str | None = None,
        email: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
    ) -> dict[str, Any]:
        """Fetch one customer by exactly one identifier (raises ``ExpertSenderNotFoundError``)."""
        kind, value = _customer_lookup(customer_id=customer_id, email=email, phone=phone, crm_id=crm_id)
        answer = await self._call(CUSTOMER_LOOKUPS[kind], {"value": value})
        return unwrap_record(answer.body, answer.request)

    async def get_order(self, order_id: str) -> dict[str, Any]:
        """Fetch one order by its id (raises ``ExpertSenderNotFoundError``)."""
        endpoint = ORDER_GET_PATHS[(await self.get_config()).order_get_path]
        answer = await self._call(endpoint, {"order_id": _order_id(order_id, "get_order")})
        return unwrap_record(answer.body, answer.request)

    async def close(self) -> None:
        """Close the session opened by ``async with``, if any."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> ExpertSenderAsyncHook:
        await self.close()
        self._session = new_async_session(await self.get_config())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _session_scope(self) -> AsyncIterator[aiohttp.ClientSession]:
        if self._session is not None and not self._session.closed:
            yield self._session
            return
        session = new_async_session(await self.get_config())
        try:
            yield session
        finally:
            await session.close()

    async def _call(self, endpoint: Endpoint, params: Mapping[str, object] | None = None) -> Answer:
        request = request_info(endpoint, params)
        config = await self.get_config()
        policy = RetryPolicy.from_config(config)
        deadline = time.monotonic() + policy.max_elapsed  # no attempt outlasts the call's budget
        async with self._session_scope() as session:
            return await acall_with_retries(
                lambda: asend(session, config, request, self.log, deadline),
                policy=policy,
                idempotent=True,
                label=request.label,
                sleep=self._sleep,
                logger=self.log,
            )


def _customer_lookup(**identifiers: object) -> tuple[str, object]:
    return one_identifier(identifiers, what="ExpertSenderHook.get_customer")


def _order_id(order_id: object, method: str) -> object:
    return require("order_id", order_id, what=f"ExpertSenderHook.{method}")


def _fix_key(err: ExpertSenderAuthError) -> str:
    if err.status == 403:
        return "The key is valid but lacks access to this resource; use a key of a business unit with access."
    return "Check the connection's password (API key) against ExpertSender Settings -> API."
