"""Data-aware scheduling: a DAG scheduled on the customers Asset (a Dataset on 2.10) runs after an upsert
landed, and does not run when nothing landed.

Real DAGs run with ``dag.test()`` against the emulator; the downstream DAG is registered as the DAG processor
would, and a real ``airflow scheduler`` process creates and runs it. The same tests run on both Airflow lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.assets import (
    RESOURCES,
    asset_alias,
    asset_uri,
    event_extra,
    expertsender_asset,
    landed,
    with_outlet,
)
from airflow_provider_expertsender.emulator.pytest_plugin import connection_json
from tests.operators.conftest import order_record

BU_CONN = "es_assets_bu"  # a connection of this module only: other tests' writes never touch its Assets

_HEAD = """
from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_expertsender.assets import expertsender_asset
from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrdersOperator,
    ExpertSenderRegisterOrdersOperator,
)

START = pendulum.datetime(2025, 1, 1, tz="UTC")
"""

UPSERT = (
    _HEAD
    + """
with DAG(dag_id="{dag_id}", schedule=None, start_date=START, catchup=False, params={{"conn": "{conn}"}}):
    ExpertSenderUpsertCustomersOperator(
        task_id="upsert",
        customers={customers!r},
        on_invalid="skip",
        max_rejected=1.0,
        dry_run={dry_run!r},
        expertsender_conn_id="{{{{ params.conn }}}}",
    )
"""
)

CONSUMER = (
    _HEAD
    + """
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2.10
    from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="{dag_id}",
    schedule=[expertsender_asset("customers", "{conn}")],
    start_date=START,
    catchup=False,
):
    EmptyOperator(task_id="after_customers_landed")
"""
)

ADA = {"email": "ada@example.com", "first_name": "Ada"}
GRACE = {"email": "grace@example.com", "first_name": "Grace"}
INVALID = {"email": "not-an-address"}


def _airflow3() -> bool:
    from airflow import __version__

    return int(__version__.split(".")[0]) >= 3


@pytest.fixture
def bu_conn(emulator: Any, expertsender_conn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A second connection to the emulator's business unit, under this module's own id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{BU_CONN.upper()}", connection_json(emulator))
    return BU_CONN


def _register(dags_folder: Path, dag_id: str, source: str) -> None:
    """Write a DAG file and register it in the metadata DB as the DAG processor does (schedule included),
    unpaused."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    path = dags_folder / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source))
    if _airflow3():
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()
        try:
            from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db  # 3.1+
        except ImportError:  # Airflow 3.0
            from airflow.models.dagbag import DagBag as DagBag30

            bag30 = DagBag30(dag_folder=str(path))
            assert not bag30.import_errors, bag30.import_errors
            bag30.sync_to_db(bundle_name="dags-folder", bundle_version=None)
        else:
            bag = DagBag(dag_folder=str(path))
            assert not bag.import_errors, bag.import_errors
            sync_bag_to_db(bag, bundle_name="dags-folder", bundle_version=None)
    else:
        from airflow.models.dagbag import DagBag as DagBag2

        bag2 = DagBag2(dag_folder=str(path), include_examples=False)
        assert not bag2.import_errors, bag2.import_errors
        bag2.sync_to_db()
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False})


def _events(uri: str) -> list[dict[str, Any]]:
    """The extras of the events Airflow recorded for the Asset ``uri``, oldest first."""
    from airflow.utils.session import create_session

    if _airflow3():
        from airflow.models.asset import AssetEvent, AssetModel

        with create_session() as session:
            model = session.query(AssetModel).filter(AssetModel.uri == uri).one_or_none()
            if model is None:
                return []
            rows = session.query(AssetEvent).filter(AssetEvent.asset_id == model.id).order_by(AssetEvent.id)
            return [dict(event.extra or {}) for event in rows]
    from airflow.models.dataset import DatasetEvent, DatasetModel

    with create_session() as session:
        dataset = session.query(DatasetModel).filter(DatasetModel.uri == uri).one_or_none()
        if dataset is None:
            return []
        found = session.query(DatasetEvent).filter(DatasetEvent.dataset_id == dataset.id)
        return [dict(event.extra or {}) for event in found.order_by(DatasetEvent.id)]


def _due(dag_id: str) -> bool:
    """Whether the scheduler's next loop creates an asset-triggered run of ``dag_id`` (its own query)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        due, triggered = DagModel.dags_needing_dagruns(session)
        rows = session.scalars(due) if hasattr(due, "compile") else due
        return dag_id in {model.dag_id for model in rows} and dag_id in triggered


def _runs(dag_id: str) -> list[tuple[str, str]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(DagRun).filter(DagRun.dag_id == dag_id)
        return [
            (str(getattr(r.run_type, "value", r.run_type)), str(getattr(r.state, "value", r.state)))
            for r in rows
        ]


def _scheduler_loops(loops: int = 3) -> None:
    """Run a real ``airflow scheduler`` of this venv for a few loops: it creates and finishes the runs due."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "scheduler", "--num-runs", str(loops)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


# -- the Done-when test -------------------------------------------------------------------------------------


@pytest.mark.dag
def test_a_dag_on_the_customers_asset_runs_after_an_upsert_landed_and_not_when_nothing_did(
    run_dag, bu_conn, dags_folder, store
):
    uri = asset_uri("customers", bu_conn)
    consumer = "es_assets_after_customers"
    _register(dags_folder, consumer, CONSUMER.format(dag_id=consumer, conn=bu_conn))

    # Nothing landed: a dry run, then a run whose every record is invalid (skipped). No event, nothing due.
    for dag_id, customers, dry_run in (
        ("es_assets_dry_run", [ADA], True),
        ("es_assets_all_invalid", [INVALID], False),
    ):
        result = run_dag(
            UPSERT.format(dag_id=dag_id, conn=bu_conn, customers=customers, dry_run=dry_run), dag_id
        )
        assert result.state == "success", result.task_states
        assert result.xcom("upsert")["accepted"] == 0
    assert all(c.get("email") != ADA["email"] for c in store.customers)
    assert _events(uri) == []
    assert not _due(consumer)

    # Two customers landed (one invalid record skipped): one event, with the counts, and the DAG is due.
    result = run_dag(
        UPSERT.format(
            dag_id="es_assets_upsert", conn=bu_conn, customers=[ADA, INVALID, GRACE], dry_run=False
        ),
        "es_assets_upsert",
    )
    assert result.state == "success", result.task_states
    [extra] = _events(uri)
    assert extra["accepted"] == 2
    assert extra["read"] == 3
    assert extra["invalid"] == 1
    assert extra["resource"] == "customers"
    assert "dead_letter_path" not in extra
    assert "ada@example.com" not in str(extra)  # counts only, no personal data
    assert _due(consumer)

    # The real scheduler creates the asset-triggered run and finishes it.
    _scheduler_loops()
    run_type = "asset_triggered" if _airflow3() else "dataset_triggered"
    assert _runs(consumer) == [(run_type, "success")]
    assert not _due(consumer)


@pytest.mark.dag
def test_orders_and_mapped_writes_emit_on_their_own_assets(run_dag, bu_conn, customers):
    """Orders land on the orders Asset, deletions on theirs; each mapped upsert task that landed emits once
    (the alias comes with the unmapped operator: on 2.10 it is registered on first use)."""
    source = (
        _HEAD
        + f"""
with DAG(dag_id="es_assets_mapped", schedule=None, start_date=START, catchup=False):
    ExpertSenderUpsertCustomersOperator.partial(
        task_id="upsert", expertsender_conn_id="{bu_conn}", on_invalid="skip", max_rejected=1.0
    ).expand(customers=[[{ADA!r}], [{INVALID!r}], [{GRACE!r}]])
    orders = ExpertSenderRegisterOrdersOperator(
        task_id="orders",
        expertsender_conn_id="{bu_conn}",
        orders=[{order_record("A-1")!r}],
    )
    orders >> ExpertSenderDeleteOrdersOperator(
        task_id="delete", expertsender_conn_id="{bu_conn}", order_ids=["A-1"]
    )
"""
    )
    seen_customers = len(_events(asset_uri("customers", bu_conn)))
    seen_orders = len(_events(asset_uri("orders", bu_conn)))
    result = run_dag(source, "es_assets_mapped")
    assert result.state == "success", result.task_states
    customers_events = _events(asset_uri("customers", bu_conn))[seen_customers:]
    assert sorted(e["accepted"] for e in customers_events) == [1, 1]  # the all-invalid instance emitted none
    [orders_event] = _events(asset_uri("orders", bu_conn))[seen_orders:]
    assert orders_event["accepted"] == 1
    assert orders_event["resource"] == "orders"
    # The bulk operators added later (one line each in assets.RESOURCES) emit the same way.
    assert [e["accepted"] for e in _events(asset_uri("order_deletes", bu_conn))][-1:] == [1]


# -- the module ---------------------------------------------------------------------------------------------


def test_asset_uri_names_the_business_unit_by_connection_id():
    assert asset_uri("customers") == "expertsender://expertsender_default/customers"
    assert asset_uri("orders", "shop-pl.prod") == "expertsender://shop-pl.prod/orders"
    assert asset_uri("customers", "odd id#1") == "expertsender://odd%20id%231/customers"
    with pytest.raises(ValueError, match="No ExpertSender asset for 'products'"):
        asset_uri("products")
    with pytest.raises(ValueError, match="cannot be empty"):
        asset_uri("customers", " ")


def test_expertsender_asset_is_what_a_downstream_dag_schedules_on():
    asset = expertsender_asset("customers", "expertsender_shop_pl")
    assert asset.uri == "expertsender://expertsender_shop_pl/customers"
    assert getattr(asset, "name", asset.uri) == asset.uri  # Airflow 3: name defaults to the URI


def test_the_bulk_write_operators_declare_their_alias_and_keep_the_users_outlets():
    from airflow_provider_expertsender._compat import Asset
    from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
    from airflow_provider_expertsender.operators.orders import ExpertSenderRegisterOrdersOperator

    upsert = ExpertSenderUpsertCustomersOperator(task_id="u", customers=[ADA])
    assert upsert.outlets == [asset_alias("customers")]
    mine = Asset("s3://warehouse/customers")
    register = ExpertSenderRegisterOrdersOperator(task_id="r", orders=[{"id": "1"}], outlets=[mine])
    assert register.outlets == [mine, asset_alias("orders")]
    assert asset_alias("orders").name == "expertsender-orders"


def test_with_outlet():
    alias = asset_alias("customers")
    assert with_outlet("customers", None) == [alias]
    assert with_outlet("customers", [alias]) == [alias]
    assert with_outlet("customers", ("x",)) == ["x", alias]
    assert with_outlet("settings", None) == []  # a resource without an Asset gets no alias
    assert set(RESOURCES) >= {"customers", "orders"}


def test_event_extra_keeps_flat_counts_only():
    summary = {
        "resource": "customers",
        "mode": "AddOrUpdate",
        "match_by": "Email",
        "read": 3,
        "accepted": 2,
        "duration_s": 0.5,
        "dry_run": False,
        "stopped_early": True,
        "dead_letter_path": "s3://bucket/dl.jsonl",
        "by_stage": {"api": 1},
        "first_errors": ["ada@example.com: bad"],
    }
    assert event_extra(summary) == {
        "resource": "customers",
        "mode": "AddOrUpdate",
        "match_by": "Email",
        "read": 3,
        "accepted": 2,
        "duration_s": 0.5,
    }


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"accepted": 1}, True),
        ({"accepted": 0, "read": 5}, False),
        ({"accepted": 3, "dry_run": True}, False),
        ({}, False),
    ],
)
def test_landed(summary, expected):
    assert landed(summary) is expected


def test_openlineage_uses_the_assets_names():
    from airflow_provider_expertsender.assets import dataset_name

    for resource in RESOURCES:
        namespace, name = dataset_name(resource, "shop pl")
        assert f"{namespace}/{name}" == asset_uri(resource, "shop pl")
    assert dataset_name("settings", "c") == ("expertsender://c", "settings")  # no Asset: the same form


def test_airflow_checks_expertsender_uris_with_the_providers_handler():
    """Registered in the provider info: Airflow runs sanitize_uri on every expertsender:// Asset."""
    from airflow_provider_expertsender import get_provider_info
    from airflow_provider_expertsender._compat import AIRFLOW_V_3_0_PLUS, Asset
    from airflow_provider_expertsender.assets import sanitize_uri

    info = get_provider_info()
    assert info["asset-uris"] == info["dataset-uris"]
    assert info["asset-uris"][0]["schemes"] == ["expertsender"]
    from urllib.parse import urlsplit

    for bad in ("expertsender:///customers", "expertsender://conn", "expertsender://conn/customers/extra"):
        with pytest.raises(ValueError, match="expertsender://<connection id>/<resource>"):
            sanitize_uri(urlsplit(bad))
    assert sanitize_uri(urlsplit(asset_uri("orders", "x"))).netloc == "x"
    if AIRFLOW_V_3_0_PLUS:  # 2.10 only warns about a URI its handler refuses
        with pytest.raises(ValueError):
            Asset("expertsender:///customers")


def test_openlineage_converter_gives_the_operators_names():
    pytest.importorskip(
        "airflow.providers.openlineage", reason="apache-airflow-providers-openlineage missing"
    )
    from airflow_provider_expertsender.assets import convert_asset_to_openlineage, dataset_name

    dataset = convert_asset_to_openlineage(expertsender_asset("customers", "bu_pl"), None)
    assert (dataset.namespace, dataset.name) == dataset_name("customers", "bu_pl")


@pytest.mark.dag
def test_an_incremental_run_with_nothing_new_emits_no_event(run_dag, bu_conn, store, tmp_path):
    """With state_path, a second run of the same records sends nothing, so nothing is announced."""
    state = tmp_path / "customers.sqlite"
    source = (
        _HEAD
        + f"""
with DAG(dag_id="es_assets_incremental", schedule=None, start_date=START, catchup=False):
    ExpertSenderUpsertCustomersOperator(
        task_id="upsert",
        customers=[{ADA!r}, {GRACE!r}],
        state_path={str(state)!r},
        expertsender_conn_id="{bu_conn}",
    )
"""
    )
    uri = asset_uri("customers", bu_conn)
    seen = len(_events(uri))
    first = run_dag(source, "es_assets_incremental")
    assert first.state == "success", first.task_states
    assert [e["accepted"] for e in _events(uri)[seen:]] == [2]
    second = run_dag(source, "es_assets_incremental")
    assert second.state == "success", second.task_states
    assert second.xcom("upsert")["accepted"] == 0
    assert len(_events(uri)) == seen + 1


def test_a_failure_to_register_the_alias_never_fails_the_landed_write(monkeypatch, caplog):
    """Announcing is best effort: the records are in ExpertSender already, failing now would resend them."""
    from airflow_provider_expertsender import _compat
    from airflow_provider_expertsender.assets import emit_asset_event

    def broken(name: str) -> None:
        raise RuntimeError("metadata DB not reachable from this worker")

    added: list[tuple[Any, Any, Any]] = []

    class Accessor:
        def __init__(self, alias: Any) -> None:
            self.alias = alias

        def add(self, asset: Any, extra: Any = None) -> None:
            added.append((self.alias, asset, extra))

    class Events:  # not a dict: Airflow 3.0's AssetAlias is unhashable (its accessors are looked up by key)
        def __getitem__(self, alias: Any) -> Accessor:
            return Accessor(alias)

    monkeypatch.setattr(_compat, "register_asset_alias", broken)
    context = {"outlet_events": Events()}
    assert emit_asset_event(context, "customers", "bu", {"accepted": 1, "read": 1}) is True
    [(alias, asset, extra)] = added
    assert alias == asset_alias("customers")
    assert asset.uri == asset_uri("customers", "bu")
    assert extra == {"accepted": 1, "read": 1}
    assert "Could not register the asset alias" in caplog.text
    assert emit_asset_event(context, "customers", "bu", {"accepted": 0}) is False
    assert emit_asset_event({}, "customers", "bu", {"accepted": 1}) is False  # no outlet_events: no event


@pytest.mark.dag
def test_on_airflow_2_a_landed_write_creates_its_dataset_before_the_task_ends(run_dag, emulator, monkeypatch):
    """Airflow 2.10 creates an alias event's Dataset and its alias link at the end of the task, in the task's
    transaction, unguarded against a concurrent insert: two DAGs landing customers at the same time both
    insert them and the second task fails (UniqueViolation on the URI, or on ``dataset_alias_dataset``) after
    its records were sent. ``make e2e`` hit both on a 2.10 Celery deployment (PostgreSQL): the customers
    example failed while the settings and custom-event examples upserted customers. The provider creates the
    rows first, each in its own committed transaction (an insert that loses the race is ignored), so
    Airflow's end-of-task registration finds both and only records the event."""
    if _airflow3():
        pytest.skip("Airflow 3: a task cannot write the metadata DB (the api-server's own race is open)")
    from airflow.models.dataset import DatasetModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    conn = "es_assets_race"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.upper()}", connection_json(emulator))
    uri = asset_uri("customers", conn)
    seen_at_task_end: list[list[str] | None] = []
    original = TaskInstance._register_dataset_changes

    def spy(self: Any, *, events: Any, session: Any) -> None:
        with create_session() as other:  # what a concurrent task's transaction sees
            dataset = other.query(DatasetModel).filter(DatasetModel.uri == uri).one_or_none()
            seen_at_task_end.append(None if dataset is None else [a.name for a in dataset.aliases])
        original(self, events=events, session=session)

    monkeypatch.setattr(TaskInstance, "_register_dataset_changes", spy)
    dag_id = "es_assets_race"
    result = run_dag(UPSERT.format(dag_id=dag_id, conn=conn, customers=[ADA], dry_run=False), dag_id)
    assert result.state == "success", result.task_states
    assert seen_at_task_end == [[asset_alias("customers").name]]
    assert len(_events(uri)) == 1
