"""Rows (from a list, a file or a SQL query) to records the payload models accept, without user code.

In this order, for every row:

1. ``field_map`` renames keys (``{"mail": "email"}``); keys it does not name are kept.
2. ``row_mapper`` (a callable, or ``"package.module:function"``) may rewrite the row; it returns a dict, which
   goes through step 3 like any row. An exception it raises makes that row an invalid record.
3. Automatic mapping of flat rows to the API's nested shape:

   customers
     ``attr_<name>`` / ``attr.<name>`` -> ``customAttributes`` item ``{"name": <name>, "value": ...}``;
     ``consent_<id>`` / ``consent.<id>`` -> ``consentsData.consents`` item ``{"id": <id>, "value": ...}``
     (booleans and ``true``/``false``/``yes``/``no``/``1``/``0`` become ``"True"``/``"False"``).
   orders
     ``attr_<name>`` / ``attr.<name>`` / ``order_attr_<name>`` -> ``orderAttributes`` item;
     ``customer_<field>`` / ``customer.<field>`` -> the ``customer`` object (``customer_email``...);
     ``product_<field>`` / ``product.<field>`` -> one product line, ``product_attr_<name>`` -> its
     ``productAttributes``; ``order_id`` / ``orderId`` is the order's ``id`` when there is no ``id`` column.
     These column names, ``id`` and ``websiteId`` are matched without case and underscores, as the models
     match every field (``Order_Id``, ``ORDERID``, ``ID``, ``Website_Id``).
   custom events, status changes, deletes ("plain" rules)
     only the rules below; the resource's payload function reads the columns (``data_*``...).
   all
     any other ``a.b`` key -> nested object ``{"a": {"b": ...}}``; a string holding JSON in a column that is a
     list or object in the API (``products``, ``customAttributes``, ``consentsData``, ``orderAttributes``,
     ``customer``, in any case) is parsed; other keys pass unchanged (the models accept snake_case
     and camelCase). ``None`` values (SQL ``NULL``, empty CSV cells) of attribute and consent columns are
     left out. A JSON column that does not parse (or names a key twice) makes the row an invalid record naming
     the column, and the file and line when the rows come from a source that tells them.

Two columns that end up under one name (``field_map={"mail": "email"}`` with an ``email`` column too) are
refused with :class:`~airflow_provider_expertsender.exceptions.ExpertSenderConfigError` naming them: one of
the two values would be lost.

Product lines of an order come either from a JSON column ``products`` (one row per order), or from
``product_*`` columns with one row per product line: consecutive rows with the same order ``id`` (and
``websiteId``) form one order, whose order-level fields are taken from its first row. Consecutive, because the
input is a stream and memory must not grow with it: sort the query (``ORDER BY order_id``) or the file by
order id. A row whose ``product_*`` columns are all empty (an order without lines in a ``LEFT JOIN``) adds no
product line. An order id that comes back after other orders (among the last 10,000) is logged once as a
warning: the input is not sorted. A row without an order id is never grouped with another one: it is an order
of its own (which validation then refuses for its missing id), so a misnamed id column never merges orders.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import marshal
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.sync.strict_json import json_problem, loads_strict

log = logging.getLogger(__name__)

# Columns holding a list or an object in the API (folded: lower case, no underscores): a JSON string there is
# parsed.
_JSON_FIELDS = frozenset(
    {
        "products",
        "customattributes",
        "consentsdata",
        "orderattributes",
        "productattributes",
        "customer",
        "datafields",
    }
)
# Folded column names that are an order's id.
_ORDER_ID_COLUMNS = frozenset({"id", "orderid"})
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f"})
_PLAN_CACHE_SIZE = 256
# How many recent orders are remembered to detect product lines of one order that are not consecutive.
_RECENT_ORDERS = 10_000

# Plan steps: (kind, source key, argument)
_PASS, _JSON, _NESTED, _ATTR, _CONSENT, _CUSTOMER, _PRODUCT, _PRODUCT_ATTR = range(8)


@dataclass(frozen=True)
class RowRules:
    """Which flat-row rules apply to a resource (``sync.resources.Resource.rows`` names one).

    :param attribute_field: the API list that ``attr_<name>`` columns fill (both spellings), or None.
    :param consents: ``consent_<id>`` columns fill ``consentsData.consents``.
    :param orders: ``order_attr_*``, ``product_*``, ``customer_*`` and ``order_id`` columns, and product
        lines grouped into orders.
    """

    attribute_field: tuple[str, str] | None = None
    consents: bool = False
    orders: bool = False


#: The rules by name.
ROW_RULES: dict[str, RowRules] = {
    "customers": RowRules(("customAttributes", "custom_attributes"), consents=True),
    "orders": RowRules(("orderAttributes", "order_attributes"), orders=True),
    "plain": RowRules(),
}


@dataclass(frozen=True)
class RowError:
    """A row that could not be turned into a record (bad JSON line, ``row_mapper`` failure...).

    The engine reports it as an invalid record, like a record that fails validation.

    :param reason: what went wrong, without the row's values.
    :param row: the row as read (goes to the dead-letter file only).
    """

    reason: str
    row: Any = None


class _BadRow(Exception):
    """A row that cannot be mapped (raised in :meth:`RowMapper._apply`, reported as a :class:`RowError`)."""


@dataclass(frozen=True)
class _Plan:
    """Mapping steps ``(kind, source key, argument)`` for one set of row keys.

    ``identity``: the row is already in the API's shape (unless a JSON column holds a string).
    """

    steps: tuple[tuple[int, str, Any], ...]
    identity: bool
    json_keys: tuple[str, ...]


def _nowhere() -> str:
    return ""


def _at(where: Callable[[], str]) -> str:
    """``"export.csv line 12: "`` for a message about the current row, or ``""`` when unknown."""
    location = where()
    return f"{location}: " if location else ""


def load_row_mapper(row_mapper: Any) -> Callable[[Mapping[str, Any]], Any] | None:
    """Return the ``row_mapper`` callable; a ``"package.module:function"`` string is imported.

    :raises ExpertSenderConfigError: not a callable, a malformed string, or the import fails.
    """
    if row_mapper is None or callable(row_mapper):
        return row_mapper
    if not isinstance(row_mapper, str) or row_mapper.count(":") != 1:
        raise ExpertSenderConfigError(
            f"row_mapper must be a callable or a 'package.module:function' string, got {row_mapper!r}."
        )
    module_name, _, attr = row_mapper.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ExpertSenderConfigError(f"row_mapper {row_mapper!r} could not be imported: {err}") from err
    if not callable(target):
        raise ExpertSenderConfigError(f"row_mapper {row_mapper!r} is not callable.")
    return target


def _consent_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, str)):
        text = str(value).strip().lower()
        if text in _TRUE:
            return "True"
        if text in _FALSE:
            return "False"
        if text == "awaitingconfirmation":
            return "AwaitingConfirmation"
    return value


def _split_prefix(key: str, prefixes: tuple[str, ...]) -> str | None:
    lowered = key.lower()
    for prefix in prefixes:
        if lowered.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return None


class RowMapper:
    """Turns rows into records (see the module docstring for the rules).

    :param resource: the name of the rules in :data:`ROW_RULES` (``"customers"``, ``"orders"``, ``"plain"``).
    :param field_map: renames, ``{source key: target key}``.
    :param row_mapper: a callable or an import path (``"pkg.mod:func"``).
    :param logger: where warnings go (default: this module's logger).
    """

    def __init__(
        self,
        resource: str,
        *,
        field_map: Mapping[str, str] | None = None,
        row_mapper: Any = None,
        logger: Any = None,
    ) -> None:
        if field_map is not None and not isinstance(field_map, Mapping):
            raise ExpertSenderConfigError(
                f"field_map must be a dict of source key -> target key, got {type(field_map).__name__}."
            )
        if resource not in ROW_RULES:
            raise ExpertSenderConfigError(f"No row rules called {resource!r}; one of {', '.join(ROW_RULES)}.")
        self.rules = ROW_RULES[resource]
        self.log = logger or log
        self.field_map = dict(field_map or {})
        self.row_mapper = load_row_mapper(row_mapper)
        # With a row_mapper, field_map renames before it runs (in _rows), so the plans must not rename again.
        self._renames = {} if self.row_mapper is not None else self.field_map
        self._plans: dict[tuple[str, ...], _Plan] = {}
        #: orders whose product-line rows were not consecutive (seen among the last _RECENT_ORDERS orders)
        self.split_orders = 0

    # ---------------------------------------------------------------------------------------------- planning

    def _classify(self, target: str) -> tuple[int, Any]:
        from airflow_provider_expertsender.models import fold_key

        folded = fold_key(target)
        if folded in _JSON_FIELDS:
            return _JSON, target
        rules = self.rules
        if rules.consents:
            consent = _split_prefix(target, ("consent_", "consent."))
            if consent is not None and consent.strip().isdigit():
                return _CONSENT, int(consent)
        if rules.orders:
            name = _split_prefix(target, ("order_attr_", "order_attr.", "attr_", "attr."))
            if name is not None:
                return _ATTR, name
            name = _split_prefix(target, ("product_attr_", "product_attr.", "productattr."))
            if name is not None:
                return _PRODUCT_ATTR, name
            name = _split_prefix(target, ("product_", "product."))
            if name is not None:
                return _PRODUCT, name
            name = _split_prefix(target, ("customer_", "customer."))
            if name is not None:
                return _CUSTOMER, name
            if folded in _ORDER_ID_COLUMNS:
                return _PASS, "id"
            if folded == "websiteid":
                return _PASS, "websiteId"
        elif rules.attribute_field is not None:
            name = _split_prefix(target, ("attr_", "attr."))
            if name is not None:
                return _ATTR, name
        if "." in target.strip("."):
            return _NESTED, tuple(target.split("."))
        return _PASS, target

    def _plan(self, keys: tuple[str, ...]) -> _Plan:
        """How to map rows with these keys (cached: rows of a file or a query share their keys)."""
        try:
            return self._plans[keys]
        except KeyError:
            pass
        steps = []
        classified = [(key, *self._classify(self._renames.get(key, key))) for key in keys]
        explicit = [
            key for key, kind, arg in classified if kind == _PASS and arg == "id" and key.lower() == "id"
        ]
        for key, kind, arg in classified:
            if kind == _PASS and arg == "id" and explicit and key != explicit[0]:
                arg = key  # an explicit id column wins over order_id (the model then names the clash)
            steps.append((kind, key, arg))
        self._refuse_clashes(steps)
        identity = all(kind in (_PASS, _JSON) and key == arg for kind, key, arg in steps)
        json_keys = tuple(key for kind, key, _ in steps if kind == _JSON)
        plan = _Plan(tuple(steps), identity, json_keys)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        self._plans[keys] = plan
        return plan

    @staticmethod
    def _refuse_clashes(steps: list[tuple[int, str, Any]]) -> None:
        """Two columns landing on one key of the record: one value would silently replace the other."""
        targets: dict[Any, list[str]] = {}
        for kind, key, arg in steps:
            if kind in (_PASS, _JSON, _NESTED):
                targets.setdefault(arg, []).append(key)
            elif kind in (_CUSTOMER, _PRODUCT):
                targets.setdefault(("customer" if kind == _CUSTOMER else "product", arg), []).append(key)
        clashes = [(target, keys) for target, keys in targets.items() if len(keys) > 1]
        if clashes:
            described = "; ".join(
                f"{' and '.join(map(repr, keys))} both become "
                f"{'.'.join(target) if isinstance(target, tuple) else target!r}"
                for target, keys in clashes
            )
            raise ExpertSenderConfigError(
                f"Columns clash after renaming ({described}): one value would replace the other. Drop or "
                "rename one of them (field_map, or the source's column names)."
            )

    # --------------------------------------------------------------------------------------------- mapping

    def _apply(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Map one row; returns ``(record, product line or None)`` (product only for flat order rows)."""
        plan = self._plan(tuple(row))
        if plan.identity and not any(isinstance(row[key], (str, bytes)) for key in plan.json_keys):
            return (row if isinstance(row, dict) else dict(row)), None  # already in the API's shape
        record: dict[str, Any] = {}
        product: dict[str, Any] | None = None
        attributes: list[dict[str, Any]] = []
        consents: list[dict[str, Any]] = []
        for kind, key, arg in plan.steps:
            value = row[key]
            if kind == _PASS:
                record[arg] = value
            elif kind == _JSON:
                if isinstance(value, (str, bytes)) and value.strip()[:1] in ("[", "{", b"[", b"{"):
                    try:
                        value = loads_strict(value)
                    except ValueError as err:
                        raise _BadRow(f"column {key[:64]!r}: not valid JSON ({json_problem(err)})") from None
                record[arg] = value
            elif kind == _ATTR:
                if value is not None:
                    attributes.append({"name": arg, "value": value})
            elif kind == _CONSENT:
                if value is not None:
                    consents.append({"id": arg, "value": _consent_value(value)})
            elif kind == _CUSTOMER:
                customer = record.get("customer")
                if not isinstance(customer, dict):
                    customer = record["customer"] = {}
                customer[arg] = value
            elif kind == _PRODUCT:
                if product is None:
                    product = {}
                product[arg] = value
            elif kind == _PRODUCT_ATTR:
                if product is None:
                    product = {}
                if value is not None:
                    product.setdefault("productAttributes", []).append({"name": arg, "value": value})
            else:  # _NESTED
                target = record
                for part in arg[:-1]:
                    nested = target.get(part)
                    if not isinstance(nested, dict):
                        nested = target[part] = {}
                    target = nested
                target[arg[-1]] = value
        if attributes and self.rules.attribute_field is not None:
            field, snake = self.rules.attribute_field
            existing = record.pop(field, None) or record.pop(snake, None) or []
            record[field] = [*existing, *attributes]
        if consents:
            data = record.pop("consentsData", None) or record.pop("consents_data", None) or {}
            data = dict(data)
            data["consents"] = [*(data.get("consents") or []), *consents]
            record["consentsData"] = data
        return record, product

    def _rows(self, rows: Iterable[Any], where: Callable[[], str]) -> Iterator[Any]:
        """Rows renamed by ``field_map``, then rewritten by ``row_mapper`` (failures become RowError)."""
        mapper = self.row_mapper
        assert mapper is not None
        renames = self.field_map
        for row in rows:
            if isinstance(row, RowError) or not isinstance(row, Mapping):
                yield row
                continue
            if renames:
                renamed = {renames.get(k, k): v for k, v in row.items()}
                if len(renamed) != len(row):
                    self._refuse_clashes([(_PASS, k, renames.get(k, k)) for k in row])
                row = renamed
            try:
                mapped = mapper(row)
            except Exception as err:
                yield RowError(f"{_at(where)}row_mapper raised {type(err).__name__}: {err}", row)
                continue
            if not isinstance(mapped, Mapping):
                yield RowError(f"{_at(where)}row_mapper returned {type(mapped).__name__}, not a dict", row)
                continue
            yield mapped

    def map(self, rows: Iterable[Any]) -> MappedRows:
        """Map ``rows`` lazily to records (and :class:`RowError` for the rows that cannot be mapped).

        :param rows: dict rows; when they come from a source that tells where each row came from
            (``sources.SourceRows``), the errors name the file and line.
        """
        return MappedRows(self, rows)

    @property
    def per_row(self) -> bool:
        """Every row becomes one record of its own, by rules alone: no ``row_mapper`` (user code may depend on
        anything), no product lines grouped into orders."""
        return self.row_mapper is None and not self.rules.orders

    def fingerprint_context(self) -> bytes:
        """What the record of a row depends on besides the row: the rules and ``field_map``."""
        return marshal.dumps((repr(self.rules), sorted(self.field_map.items())), 0)

    def map_one(self, row: Any, where: Callable[[], str] = _nowhere) -> Any:
        """The record of one row (rules without grouping; see :attr:`per_row`), or a :class:`RowError`."""
        if isinstance(row, RowError) or not isinstance(row, Mapping):
            return row
        try:
            return self._apply(row)[0]
        except _BadRow as bad:
            return self._bad(bad, row, where)

    def _bad(self, bad: _BadRow, row: Any, where: Callable[[], str]) -> RowError:
        return RowError(f"{_at(where)}{bad}", row)

    def _split_order(self, key: Any) -> None:
        self.split_orders += 1
        if self.split_orders == 1:
            self.log.warning(
                "Product lines of order %s are not consecutive in the input: it is sent as two orders, and "
                "with AddOrReplace the second replaces the first. Sort the rows by order id (ORDER BY). "
                "Further occurrences are counted, not logged.",
                key[1],
            )

    def _map(self, rows: Iterable[Any], where: Callable[[], str]) -> Iterator[Any]:
        apply = self._apply
        if not self.rules.orders:
            for row in rows:
                if type(row) is dict or (isinstance(row, Mapping) and not isinstance(row, RowError)):
                    try:
                        record = apply(row)[0]
                    except _BadRow as bad:
                        yield self._bad(bad, row, where)
                        continue
                    yield record
                else:
                    yield row
            return
        # Orders: rows with product_* columns are product lines, grouped by consecutive order id.
        current: dict[str, Any] | None = None
        current_key: Any = None
        recent: dict[Any, None] = {}  # the last orders started, oldest first (to spot unsorted input)
        for row in rows:
            if isinstance(row, RowError) or not isinstance(row, Mapping):
                if current is not None:
                    yield current
                    current = None
                yield row
                continue
            try:
                record, product = apply(row)
            except _BadRow as bad:
                if current is not None:
                    yield current
                    current = None
                yield self._bad(bad, row, where)
                continue
            if product is None:
                if current is not None:
                    yield current
                    current = None
                yield record
                continue
            key = (record.get("websiteId"), record.get("id"))
            # A row without an order id never joins another order (a misnamed id column must not merge them).
            if current is not None and key == current_key and key[1] is not None:
                if any(v is not None for v in product.values()):
                    current["products"].append(product)
                continue
            if current is not None:
                yield current
            if key in recent and key[1] is not None:
                self._split_order(key)
            recent[key] = None
            if len(recent) > _RECENT_ORDERS:
                del recent[next(iter(recent))]
            current, current_key = record, key
            existing = record.get("products")
            current["products"] = list(existing) if isinstance(existing, list) else []
            if any(v is not None for v in product.values()):
                current["products"].append(product)
        if current is not None:
            yield current


class MappedRows:
    """The records of a :class:`RowMapper`'s rows, lazily; iterate it once.

    For the incremental state, a source's rows can instead be taken as *units* (:meth:`units`): each comes
    with a fingerprint of the row as read, so a row seen before is recognised without being decoded or
    mapped; :meth:`record` then turns the units that need it into records.

    :param mapper: the mapping.
    :param rows: the rows (a ``sources.SourceRows`` for files and queries).
    """

    def __init__(self, mapper: RowMapper, rows: Iterable[Any]) -> None:
        self.mapper = mapper
        self.rows = rows
        self._records: Iterator[Any] | None = None
        self._prefixes: dict[Any, bytes] = {}

    def _iterator(self) -> Iterator[Any]:
        if self._records is None:
            mapper, rows = self.mapper, self.rows
            where = getattr(rows, "location", None) or _nowhere
            self._records = mapper._map(
                mapper._rows(rows, where) if mapper.row_mapper is not None else rows, where
            )
        return self._records

    def __iter__(self) -> Iterator[Any]:
        return self._iterator()

    def __next__(self) -> Any:
        return next(self._iterator())

    def units(self) -> Iterator[tuple[bytes | None, Any]] | None:
        """``(fingerprint, unit)`` for each row as read, or None when the rows cannot be taken so (not from
        a file or query, or rows that are not one record each: see :attr:`RowMapper.per_row`).

        The fingerprint (None for a unit without one) is equal for two units exactly when their records are:
        it covers the unit's bytes, its file's format and columns (the decoder's context) and the mapping's
        rules and ``field_map``.
        """
        units = getattr(self.rows, "units", None)
        if units is None or not self.mapper.per_row:
            return None
        return self._fingerprinted(units())

    def _fingerprinted(self, units: Iterable[Any]) -> Iterator[tuple[bytes | None, Any]]:
        prefixes = self._prefixes
        for unit in units:
            decoder = unit[0]
            # A decoder whose units are their own fingerprint (JSON lines) saves a call per row.
            fingerprint = unit[2] if decoder.verbatim else decoder.fingerprint(unit[2])
            if fingerprint is None:
                yield None, unit
                continue
            prefix = prefixes.get(decoder)
            if prefix is None:
                prefix = prefixes[decoder] = self._prefix(decoder)
            yield prefix + fingerprint, unit

    def _prefix(self, decoder: Any) -> bytes:
        context = marshal.dumps((decoder.context, self.mapper.fingerprint_context()), 0)
        return hashlib.blake2b(context, digest_size=16).digest()

    def record(self, unit: Any) -> Any:
        """The record of a unit taken from :meth:`units` (or a :class:`RowError`)."""
        decoder, number, raw = unit
        return self.mapper.map_one(decoder.decode(raw, number), lambda: decoder.where(number))
