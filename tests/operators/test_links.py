"""Extra links: the dead-letter file in its object store's console, where a stable console URL exists."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_expertsender import get_provider_info
from airflow_provider_expertsender.links import ExpertSenderDeadLetterLink, console_url
from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.orders import ExpertSenderRegisterOrdersOperator


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "s3://aws_default@lake/dead/run 1/customers.jsonl",
            "https://s3.console.aws.amazon.com/s3/object/lake?prefix=dead/run%201/customers.jsonl",
        ),
        ("s3://lake/x.jsonl", "https://s3.console.aws.amazon.com/s3/object/lake?prefix=x.jsonl"),
        (
            "gs://lake/dead/2025-01-01/orders.jsonl",
            "https://console.cloud.google.com/storage/browser/_details/lake/dead/2025-01-01/orders.jsonl",
        ),
        ("gcs://lake/o.jsonl", "https://console.cloud.google.com/storage/browser/_details/lake/o.jsonl"),
        ("/var/dead/customers.jsonl", None),  # a worker's local disk has no URL
        ("file:///var/dead/customers.jsonl", None),
        ("abfs://container@account.dfs.core.windows.net/x.jsonl", None),  # no stable console URL known
        ("s3://lake/", None),  # not a file
        (None, None),
        (42, None),
    ],
)
def test_console_url(path, expected):
    assert console_url(path) == expected


def test_the_bulk_write_operators_have_the_dead_letter_link_and_it_is_registered():
    for operator in (ExpertSenderUpsertCustomersOperator, ExpertSenderRegisterOrdersOperator):
        assert [link.name for link in operator.operator_extra_links] == ["Dead letters"]
    assert get_provider_info()["extra-links"] == [
        "airflow_provider_expertsender.links.ExpertSenderDeadLetterLink"
    ]


def test_link_from_the_operator_that_just_ran():
    """Airflow 3 computes the link on the worker when the task ends, with the operator that ran."""
    op = ExpertSenderUpsertCustomersOperator(task_id="u", customers=[{"email": "a@example.com"}])
    op._summary = {"accepted": 1, "dead_letter_path": "s3://lake/dl.jsonl"}
    link = ExpertSenderDeadLetterLink().get_link(op, ti_key=None)
    assert link == "https://s3.console.aws.amazon.com/s3/object/lake?prefix=dl.jsonl"
    op._summary = {"accepted": 1, "dead_letter_path": None}
    assert ExpertSenderDeadLetterLink().get_link(op, ti_key=None) == ""


class _XCom:
    """Stands in for the XCom backend (a summary with an S3 dead-letter file is not producible offline)."""

    values: dict[Any, Any] = {}

    @classmethod
    def get_value(cls, *, ti_key: Any, key: str) -> Any:
        return cls.values.get((ti_key, key))


def test_link_from_the_summary_in_xcom(monkeypatch):
    """Airflow 2.10's webserver has only the serialized operator: the summary comes from XCom."""
    import airflow_provider_expertsender.links as links

    monkeypatch.setattr(links, "XCom", _XCom)
    monkeypatch.setattr(_XCom, "values", {("ti", "return_value"): {"dead_letter_path": "gs://b/k.jsonl"}})
    serialized = object()
    assert links.ExpertSenderDeadLetterLink().get_link(serialized, ti_key="ti") == (
        "https://console.cloud.google.com/storage/browser/_details/b/k.jsonl"
    )
    assert links.ExpertSenderDeadLetterLink().get_link(serialized, ti_key="other") == ""


@pytest.mark.dag
def test_a_run_with_a_local_dead_letter_file_offers_no_link(run_dag, expertsender_conn, store, tmp_path):
    """A real run on this Airflow line: the link is computed without error, and empty for a local file."""
    from airflow_provider_expertsender._compat import AIRFLOW_V_3_0_PLUS

    dead = tmp_path / "dead.jsonl"
    result = run_dag(
        f"""
        from __future__ import annotations

        import pendulum

        try:
            from airflow.sdk import DAG
        except ImportError:  # Airflow 2
            from airflow import DAG

        from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

        with DAG(dag_id="es_links_local", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
            ExpertSenderUpsertCustomersOperator(
                task_id="upsert",
                customers=[{{"email": "a@example.com"}}, {{"email": "nope"}}],
                on_invalid="skip",
                max_rejected=1,
                dead_letter_path={str(dead)!r},
            )
        """,
        "es_links_local",
    )
    assert result.state == "success", result.task_states
    assert result.xcom("upsert")["dead_letter_path"] == str(dead)
    if AIRFLOW_V_3_0_PLUS:  # the worker stored the link's value for the UI
        assert result.xcom("upsert", key="_link_ExpertSenderDeadLetterLink") in ("", None)


def test_the_link_survives_dag_serialization(airflow_db):
    """What the webserver / API server holds is the serialized operator: the link must come back from it."""
    import pendulum

    from airflow_provider_expertsender._compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import DAG

        try:
            from airflow.serialization.serialized_objects import DagSerialization as Serializer
        except ImportError:  # Airflow 3.0
            from airflow.serialization.serialized_objects import SerializedDAG as Serializer  # type: ignore
    else:
        from airflow import DAG
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer  # type: ignore

    dag = DAG(dag_id="es_links_serialized", schedule=None, start_date=pendulum.datetime(2025, 1, 1))  # noqa: AIR311
    with dag:
        ExpertSenderUpsertCustomersOperator(task_id="upsert", customers=[{"email": "a@example.com"}])
    back = Serializer.from_dict(Serializer.to_dict(dag))
    task = back.get_task("upsert")
    assert "Dead letters" in task.extra_links


@pytest.mark.dag
def test_airflow3_stores_the_link_also_when_the_write_failed(
    run_dag, expertsender_conn, store, tmp_path, monkeypatch
):
    """The worker computes the link at the end of a failed try too (max_rejected exceeded), from the summary
    the operator pushed; ``console_url`` is stubbed because no object store is reachable from the tests."""
    from airflow_provider_expertsender import links
    from airflow_provider_expertsender._compat import AIRFLOW_V_3_0_PLUS

    if not AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2.10 computes links in the webserver (test_link_from_the_summary_in_xcom)")
    monkeypatch.setattr(
        links, "console_url", lambda path: f"https://console.example/{path}" if path else None
    )
    dead = tmp_path / "dead.jsonl"
    result = run_dag(
        f"""
        from __future__ import annotations

        import pendulum
        from airflow.sdk import DAG

        from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

        with DAG(dag_id="es_links_failed", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
            ExpertSenderUpsertCustomersOperator(
                task_id="upsert",
                customers=[{{"email": "a@example.com"}}, {{"email": "nope"}}],
                on_invalid="skip",
                dead_letter_path={str(dead)!r},
                retries=0,
            )
        """,
        "es_links_failed",
    )
    assert result.task_states == {"upsert": "failed"}
    assert result.xcom("upsert", key="_link_ExpertSenderDeadLetterLink") == f"https://console.example/{dead}"


def test_the_operator_that_ran_never_looks_up_xcom(monkeypatch):
    """On the worker a missing XCom is logged as an error by Airflow 3's Task SDK: a task that failed before
    any summary gets no link without asking for one."""
    import airflow_provider_expertsender.links as links

    class NoXCom:
        @classmethod
        def get_value(cls, **kwargs: Any) -> Any:
            raise AssertionError("XCom looked up for the operator that just ran")

    monkeypatch.setattr(links, "XCom", NoXCom)
    op = ExpertSenderUpsertCustomersOperator(task_id="u", customers=[{"email": "a@example.com"}])
    assert links.ExpertSenderDeadLetterLink().get_link(op, ti_key="ti") == ""
