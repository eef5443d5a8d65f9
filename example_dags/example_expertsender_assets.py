"""Data-aware scheduling: run after customers or orders landed in ExpertSender.

The bulk writes record an event on the business unit's Asset (a Dataset on Airflow 2.10) when they accepted at
least one record; this DAG is scheduled on two of them, so the scheduler runs it after any upsert of customers
or registration of orders through the connection ``expertsender_default`` landed something (the other examples
do). Its task reads the counts the triggering events carry (never a record or an identifier) and logs them.
Triggered by hand, it finds no event and says so.

A DAG that declares the Assets also puts them in Airflow's database when it is parsed, before any write runs:
on Airflow 3, an Asset that no DAG declares is created by the first event for it, and two tasks landing their
first records at the same moment can then collide there (see ``docs/assets.md``).
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum

from airflow_provider_expertsender.assets import expertsender_asset

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task

log = logging.getLogger(__name__)


# [START howto_schedule_on_assets]
@dag(
    dag_id="example_expertsender_assets",
    # Either resource, through the connection expertsender_default ("&" would wait for both).
    schedule=expertsender_asset("customers") | expertsender_asset("orders"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["expertsender", "example"],
    doc_md=__doc__,
)
def example_expertsender_assets():
    @task
    def report_what_landed(**context: Any) -> dict[str, int]:
        """The records each triggering write accepted, by Asset (from the events' counts)."""
        # Airflow 3 names the events triggering_asset_events; 2.10 triggering_dataset_events.
        events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}  # noqa: AIR301
        accepted: dict[str, int] = {}
        for asset in events:
            uri = str(getattr(asset, "uri", asset))
            for event in events[asset]:
                accepted[uri] = accepted.get(uri, 0) + int((event.extra or {}).get("accepted", 0))
        for uri, count in sorted(accepted.items()):
            log.info("%s: %d record(s) accepted by the writes that triggered this run.", uri, count)
        if not accepted:
            log.info("No asset event triggered this run (it was started by hand).")
        return accepted

    report_what_landed()
    # [END howto_schedule_on_assets]


example_expertsender_assets()
