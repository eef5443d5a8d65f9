"""The one module that knows which Airflow line it runs on (2.10, 3.0, 3.1+).

Every other module of the package imports Airflow names from here, never from ``airflow`` itself (a test
enforces it). Each name is looked up on first use, not when this module is imported, in the locations listed
in ``_LOCATIONS``: the Airflow 3 Task SDK first, then the older homes. So an operator module pays only for the
Airflow classes it uses, and nothing warns about a deprecated path on a line that has the new one.

It needs no ``apache-airflow-providers-common-compat``: the official 2.10.5 image pins common-compat 1.3.0,
which has no ``sdk`` module, and the newer releases need Airflow 2.11 or Python 3.11. The OpenLineage facets
come from common-compat only because the OpenLineage provider (the ``openlineage`` extra) installs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    # What mypy sees: the Airflow 3.3 homes. At run time __getattr__ resolves each name on the line installed.
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset as OpenLineageDataset,
    )
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.providers.openlineage.sqlparser import SQLParser
    from airflow.sdk import (
        Asset,
        AssetAlias,
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        Connection,
        Context,
        Metadata,
        ObjectStoragePath,
        PokeReturnValue,
        conf,
    )
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
    )
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.log import mask_secret, redact
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    #: Whether the running Airflow is 3.x (read from ``airflow.__version__`` on first use).
    AIRFLOW_V_3_0_PLUS: bool

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "Asset",
    "AssetAlias",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "ClassicFormParts",
    "Connection",
    "Context",
    "DbApiHook",
    "Metadata",
    "ObjectStoragePath",
    "OpenLineageDataset",
    "OperatorLineage",
    "OutputDataset",
    "OutputStatisticsOutputDatasetFacet",
    "PokeReturnValue",
    "SQLParser",
    "TriggerEvent",
    "XCom",
    "classic_form_parts",
    "conf",
    "get_async_connection",
    "mask_secret",
    "redact",
    "register_asset_alias",
]

_SDK_EXCEPTIONS = "airflow.sdk.exceptions"  # 3.1+; on 2.10 and 3.0 they live in airflow.exceptions

# name -> ((module, attribute), ...) tried in order; the first that imports wins.
_LOCATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    # Authoring classes: airflow.sdk from 3.0 (BaseHook from 3.1), the 2.x modules before.
    "BaseHook": (("airflow.sdk", "BaseHook"), ("airflow.hooks.base", "BaseHook")),
    "BaseOperator": (("airflow.sdk", "BaseOperator"), ("airflow.models.baseoperator", "BaseOperator")),
    "BaseSensorOperator": (
        ("airflow.sdk", "BaseSensorOperator"),
        ("airflow.sensors.base", "BaseSensorOperator"),
    ),
    "PokeReturnValue": (("airflow.sdk", "PokeReturnValue"), ("airflow.sensors.base", "PokeReturnValue")),
    "Context": (("airflow.sdk", "Context"), ("airflow.utils.context", "Context")),
    "Connection": (("airflow.sdk", "Connection"), ("airflow.models.connection", "Connection")),
    "ObjectStoragePath": (("airflow.sdk", "ObjectStoragePath"), ("airflow.io.path", "ObjectStoragePath")),
    # Assets are Datasets on 2.10 (same outlet and outlet_events API).
    "Asset": (("airflow.sdk", "Asset"), ("airflow.datasets", "Dataset")),
    "AssetAlias": (("airflow.sdk", "AssetAlias"), ("airflow.datasets", "DatasetAlias")),
    "Metadata": (("airflow.sdk", "Metadata"), ("airflow.datasets.metadata", "Metadata")),
    "BaseOperatorLink": (
        ("airflow.sdk", "BaseOperatorLink"),
        ("airflow.models.baseoperatorlink", "BaseOperatorLink"),
    ),
    # The configured XCom backend: 3.x resolves it in the Task SDK, 2.10 in airflow.models.xcom.
    "XCom": (("airflow.sdk.execution_time.xcom", "XCom"), ("airflow.models.xcom", "XCom")),
    # Triggers stay in airflow-core on every line.
    "BaseTrigger": (("airflow.triggers.base", "BaseTrigger"),),
    "TriggerEvent": (("airflow.triggers.base", "TriggerEvent"),),
    # Configuration: the Task SDK's parser from 3.1 (same airflow.cfg and AIRFLOW__ variables).
    "conf": (("airflow.sdk", "conf"), ("airflow.configuration", "conf")),
    # 3.3: sdk.log tells the supervisor too; 3.0: the SDK's masker; 2.10: the core one.
    "mask_secret": (
        ("airflow.sdk.log", "mask_secret"),
        ("airflow.sdk.execution_time.secrets_masker", "mask_secret"),
        ("airflow.utils.log.secrets_masker", "mask_secret"),
    ),
    # What the masker makes of a value (tests and docs show what reaches the logs).
    "redact": (
        ("airflow.sdk.log", "redact"),
        ("airflow.sdk.execution_time.secrets_masker", "redact"),
        ("airflow.utils.log.secrets_masker", "redact"),
    ),
    "AirflowException": ((_SDK_EXCEPTIONS, "AirflowException"), ("airflow.exceptions", "AirflowException")),
    "AirflowNotFoundException": (
        (_SDK_EXCEPTIONS, "AirflowNotFoundException"),
        ("airflow.exceptions", "AirflowNotFoundException"),
    ),
    "AirflowFailException": (
        (_SDK_EXCEPTIONS, "AirflowFailException"),
        ("airflow.exceptions", "AirflowFailException"),
    ),
    "AirflowSkipException": (
        (_SDK_EXCEPTIONS, "AirflowSkipException"),
        ("airflow.exceptions", "AirflowSkipException"),
    ),
    "AirflowSensorTimeout": (
        (_SDK_EXCEPTIONS, "AirflowSensorTimeout"),
        ("airflow.exceptions", "AirflowSensorTimeout"),
    ),
    "AirflowTaskTimeout": (
        (_SDK_EXCEPTIONS, "AirflowTaskTimeout"),
        ("airflow.exceptions", "AirflowTaskTimeout"),
    ),
    # Optional providers (ImportError when not installed: the caller decides what that means).
    "DbApiHook": (("airflow.providers.common.sql.hooks.sql", "DbApiHook"),),
    "SQLParser": (("airflow.providers.openlineage.sqlparser", "SQLParser"),),
    "OperatorLineage": (("airflow.providers.openlineage.extractors", "OperatorLineage"),),
    "OpenLineageDataset": (("airflow.providers.common.compat.openlineage.facet", "Dataset"),),
    "OutputDataset": (("airflow.providers.common.compat.openlineage.facet", "OutputDataset"),),
    "OutputStatisticsOutputDatasetFacet": (
        ("airflow.providers.common.compat.openlineage.facet", "OutputStatisticsOutputDatasetFacet"),
    ),
}


def _resolve(name: str) -> Any:
    errors: list[str] = []
    for module_name, attribute in _LOCATIONS[name]:
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attribute)
        except (ImportError, AttributeError) as err:
            errors.append(f"{module_name}.{attribute}: {err}")
    raise ImportError(
        f"{name} is not available on this Airflow installation ({'; '.join(errors)})", name=name
    )


def __getattr__(name: str) -> Any:
    """Resolve an Airflow name on first use and keep it (PEP 562)."""
    if name == "AIRFLOW_V_3_0_PLUS":
        from airflow import __version__

        value: Any = int(__version__.split(".", 1)[0]) >= 3
    elif name in _LOCATIONS:
        value = _resolve(name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def _name(name: str) -> Any:
    return globals()[name] if name in globals() else __getattr__(name)


def __dir__() -> list[str]:
    return sorted(__all__)


async def get_async_connection(hook: BaseHook, conn_id: str) -> Connection:
    """Read a connection from an event loop (a trigger) without blocking it.

    Airflow 3.3.2+ reads and masks it asynchronously (``aget_connection``). Before that, ``aget_connection``
    (3.1+) masks the secrets with a synchronous call to the supervisor that fails while another call is in
    flight on the loop, and 2.10/3.0 have only the synchronous ``get_connection``: those run in a worker
    thread.

    :param hook: the hook whose ``get_connection`` / ``aget_connection`` to use (subclass overrides count).
    :param conn_id: the connection id.
    """
    from asgiref.sync import sync_to_async

    aget_connection = getattr(hook, "aget_connection", None)
    if aget_connection is not None and hasattr(_name("Connection"), "aextra_dejson"):
        connection: Connection = await aget_connection(conn_id)
        return connection
    return await sync_to_async(hook.get_connection)(conn_id)


class ClassicFormParts(NamedTuple):
    """The Flask-AppBuilder / WTForms pieces of Airflow 2's connection form."""

    text_widget: Any
    lazy_gettext: Any
    integer_field: Any
    string_field: Any
    number_range: Any
    optional: Any


def classic_form_parts() -> ClassicFormParts | None:
    """The pieces of Airflow 2.10's connection-form widgets, or ``None`` without that UI.

    Airflow 3 reads ``conn-fields`` from the provider info instead.
    """
    try:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import NumberRange, Optional
    except ImportError:
        return None
    return ClassicFormParts(
        BS3TextFieldWidget, lazy_gettext, IntegerField, StringField, NumberRange, Optional
    )


def register_asset_alias(name: str) -> None:
    """Make sure the asset alias ``name`` exists in the metadata DB before a task attaches an event to it.

    Airflow 2.10 fails a successful task's dataset registration ("Can't flush None value found in collection
    DatasetModel.aliases") when the alias was never written by the DAG processor: under ``dag.test()`` or
    ``airflow dags test`` of a DAG the scheduler has not parsed yet, and for mapped tasks (the alias comes
    with the unmapped operator). Airflow 3 skips an unknown alias and still records the Asset's event: nothing
    to do there.
    """
    if _name("AIRFLOW_V_3_0_PLUS"):
        return
    from airflow.models.dataset import DatasetAliasModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    try:
        with create_session() as session:
            found = session.scalar(
                select(DatasetAliasModel.id).where(DatasetAliasModel.name == name).limit(1)
            )
            if found is None:
                session.add(DatasetAliasModel(name=name))
    except IntegrityError:  # another task created it in the meantime
        pass


def register_asset(uri: str, alias_name: str) -> None:
    """Make sure the Asset (Dataset) ``uri`` exists and is linked to the alias before a task's event for it.

    Airflow 2.10 creates the Dataset of an alias event, and its link to the alias, at the end of the task, in
    the task's own transaction, when no DAG declares it: two tasks landing records of one resource at the
    same time (any two DAGs writing customers) both find no row, both insert it (the URI, then the
    ``dataset_alias_dataset`` link), and the second task fails on the unique key after its records were sent
    (found by ``make e2e`` on a 2.10 Celery deployment with PostgreSQL). Created here, each in a committed
    transaction of its own (an insert that loses the race is ignored), Airflow finds both and only records
    the event. Airflow 3 has the same race in the api-server (``Dynamically creating AssetModel``, seen by
    ``make e2e`` on 3.3.2), and a task there cannot write the metadata DB: there, a DAG declaring the Asset
    makes the DAG processor create it before any write (docs/assets.md).
    """
    if _name("AIRFLOW_V_3_0_PLUS"):
        return
    from airflow.datasets.manager import dataset_manager
    from airflow.models.dataset import DatasetAliasModel, DatasetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    try:
        with create_session() as session:
            if session.scalar(select(DatasetModel.id).where(DatasetModel.uri == uri).limit(1)) is None:
                models = [DatasetModel(uri=uri)]
                dataset_manager.create_datasets(dataset_models=models, session=session)  # noqa: AIR301
    except IntegrityError:  # another task created it in the meantime
        pass
    try:
        with create_session() as session:
            dataset = session.scalar(select(DatasetModel).where(DatasetModel.uri == uri).limit(1))
            alias = session.scalar(
                select(DatasetAliasModel).where(DatasetAliasModel.name == alias_name).limit(1)
            )
            if dataset is not None and alias is not None and alias not in dataset.aliases:
                dataset.aliases.append(alias)
    except IntegrityError:  # another task linked them in the meantime
        pass
