"""Data-aware scheduling: the ExpertSender Assets (Datasets on Airflow 2.10) that the bulk writes update.

Each business unit's resources are Assets named by a URI::

    expertsender://<connection id>/<resource>        e.g. expertsender://expertsender_default/customers

Business units are told apart by the Airflow **connection id**: the API exposes no identifier of the unit a
key belongs to (no "who am I" endpoint is documented), the API host is the same for every unit, and the key
is a secret. The connection id is what a DAG author already writes, it is known when the DAG is parsed, and it
is not secret. Its trade-offs (two connections to one unit are two Assets; renaming a connection renames its
Assets) are in ``docs/assets.md``. OpenLineage uses the same names (``sync/lineage.py``): namespace
``expertsender://<connection id>``, name ``<resource>``.

How an event is emitted only when something landed: a bulk write operator declares an **Asset alias** as its
outlet (``expertsender-customers``...), never the Asset itself, because Airflow (2.10 and 3.x alike) records
an event for every Asset outlet of a successful task. When the write accepted at least one record, the task
attaches an event for the concrete Asset to the alias, with the summary's counts as its extra; when nothing
landed (nothing to send, all refused, a dry run) it attaches none, and DAGs scheduled on the Asset do not run.
The connection id may be templated: the Asset is chosen after rendering.

A downstream DAG::

    from airflow_provider_expertsender.assets import expertsender_asset

    with DAG("after_customers_sync", schedule=[expertsender_asset("customers")], ...):
        ...

Adding a bulk write operator: one line in :data:`RESOURCES` (its ``resource`` -> the Asset's path).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, urlsplit

from airflow_provider_expertsender.hooks.expertsender import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_expertsender._compat import Asset, AssetAlias, OpenLineageDataset

log = logging.getLogger(__name__)

SCHEME = "expertsender"

#: The bulk write operators' ``resource`` -> the path of the Asset they update. One line per operator.
RESOURCES: dict[str, str] = {
    "customers": "customers",
    "orders": "orders",
    "custom_events": "custom_events",
    "order_statuses": "order_statuses",
    "order_deletes": "order_deletes",
}

#: Summary keys never copied to an event's extra (not counts; the extra is JSON in Airflow's database).
_NOT_IN_EXTRA = frozenset({"dry_run", "dead_letter_path"})


def asset_uri(resource: str, conn_id: str = DEFAULT_CONN_ID) -> str:
    """The URI of a business unit's resource: ``expertsender://<conn_id>/<path>``.

    :param resource: an operator's ``resource`` (``"customers"``, ``"orders"``...): a key of
        :data:`RESOURCES`.
    :param conn_id: the Airflow connection of the business unit.
    :raises ValueError: the resource has no Asset, or the connection id is empty.
    """
    if resource not in RESOURCES:
        raise ValueError(f"No ExpertSender asset for {resource!r}; known: {', '.join(sorted(RESOURCES))}.")
    namespace, name = dataset_name(resource, conn_id)
    return f"{namespace}/{name}"


def dataset_name(resource: str, conn_id: str) -> tuple[str, str]:
    """The OpenLineage ``(namespace, name)`` of a resource: ``namespace + "/" + name`` is its Asset's URI.

    :raises ValueError: the connection id is empty.
    """
    if not conn_id or not str(conn_id).strip():
        raise ValueError("The connection id of an ExpertSender asset cannot be empty.")
    return f"{SCHEME}://{quote(str(conn_id), safe='')}", RESOURCES.get(resource, resource)


def expertsender_asset(resource: str, conn_id: str = DEFAULT_CONN_ID) -> Asset:
    """The Asset (a Dataset on Airflow 2.10) of a business unit's resource, to schedule a DAG on.

    ``schedule=[expertsender_asset("customers")]`` runs a DAG after customers landed through the connection
    ``expertsender_default``; ``expertsender_asset("orders", "expertsender_shop_pl")`` after orders landed
    in the business unit of ``expertsender_shop_pl``.

    :param resource: ``"customers"``, ``"orders"``, or another key of :data:`RESOURCES`.
    :param conn_id: the Airflow connection of the business unit (default ``expertsender_default``).
    """
    from airflow_provider_expertsender._compat import Asset

    return Asset(asset_uri(resource, conn_id))


def asset_alias(resource: str) -> AssetAlias:
    """The alias a bulk write operator declares as its outlet (``expertsender-<resource>``).

    A DAG scheduled on it runs after the resource landed in any business unit.
    """
    from airflow_provider_expertsender._compat import AssetAlias

    return AssetAlias(f"{SCHEME}-{resource}")


def with_outlet(resource: str, outlets: Any) -> list[Any]:
    """``outlets`` (the operator's ``outlets`` argument) plus the resource's alias, when it has one."""
    given = [] if outlets is None else list(outlets) if isinstance(outlets, (list, tuple)) else [outlets]
    if resource not in RESOURCES:
        return given
    alias = asset_alias(resource)
    return given if alias in given else [*given, alias]


def event_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The extra of an asset event: the summary's counts (``read``, ``accepted``, ``rejected``...) and mode.

    Only flat numbers and short strings: Airflow 2.10 hashes the extra's items, and it is stored as JSON.
    """
    extra: dict[str, Any] = {}
    for key, value in summary.items():
        if key in _NOT_IN_EXTRA or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or (
            key in ("resource", "mode", "match_by") and isinstance(value, str)
        ):
            extra[key] = value
    return extra


def landed(summary: Mapping[str, Any]) -> bool:
    """Whether the write changed something in ExpertSender: at least one record accepted, not a dry run."""
    return not summary.get("dry_run") and int(summary.get("accepted") or 0) > 0


def emit_asset_event(context: Any, resource: str, conn_id: str, summary: Mapping[str, Any]) -> bool:
    """Attach the asset event of a finished write to the operator's alias, if something landed.

    :param context: the task's context (its ``outlet_events``).
    :param resource: the operator's ``resource``.
    :param conn_id: the rendered connection id.
    :param summary: the write's summary.
    :returns: whether an event was attached.
    """
    if resource not in RESOURCES or not landed(summary):
        return False
    outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
    if outlet_events is None:
        return False
    from airflow_provider_expertsender._compat import register_asset, register_asset_alias

    alias = asset_alias(resource)
    asset = expertsender_asset(resource, conn_id)
    try:
        register_asset_alias(alias.name)
        register_asset(asset.uri, alias.name)
    except Exception:  # the write has landed: never fail the task for its announcement
        log.warning(
            "Could not register the asset alias %s or its asset; the asset event may be lost.",
            alias.name,
            exc_info=True,
        )
    outlet_events[alias].add(asset, extra=event_extra(summary))
    return True


# -- Airflow's hooks for the scheme (provider info ``asset-uris`` / ``dataset-uris``) ------------------------


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's check of an ``expertsender://`` Asset URI: a connection id and one resource.

    :raises ValueError: the URI names no connection id or not exactly one resource (Airflow 3 refuses the
        Asset; 2.10 warns).
    """
    path = uri.path.strip("/")
    if not uri.netloc or not path or "/" in path:
        raise ValueError(
            f"An ExpertSender asset URI is expertsender://<connection id>/<resource> (e.g. "
            f"{asset_uri('customers')}); use expertsender_asset() to build one."
        )
    return uri


def convert_asset_to_openlineage(asset: Any, lineage_context: Any) -> OpenLineageDataset:
    """The OpenLineage dataset of an ``expertsender://`` Asset: the names the write operators report.

    The OpenLineage provider calls it when the Asset is another task's inlet or outlet.
    """
    from airflow_provider_expertsender._compat import OpenLineageDataset

    parts = urlsplit(asset.uri)
    return OpenLineageDataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.strip("/"))
