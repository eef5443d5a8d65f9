"""A bulk write that `test_dead_letters.py` kills: ``python -m tests.reliability._kill_target DEAD MODE``.

Every record is invalid (so each becomes a dead letter and, for the first 50, a log line) and the row
mapper is slow, so the write is still running when the test kills it. The connection comes from
``AIRFLOW_CONN_ES_KILL``.

MODE ``engine``: ``run_write`` with a stdlib logger (the test sends ``SIGKILL``).
MODE ``operator``: the upsert operator with Airflow 3's task-runner ``SIGTERM`` handler (``on_kill``, then the
task goes on until the supervisor's ``SIGKILL``).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Any

RECORDS = 20_000


def slow(row: dict[str, Any]) -> dict[str, Any]:
    time.sleep(0.002)
    return row


def main(dead: str, mode: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    records = [{"email": f"not-an-email-{i}"} for i in range(RECORDS)]
    if mode == "engine":
        from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook
        from airflow_provider_expertsender.sync import run_write
        from airflow_provider_expertsender.sync.mapping import RowMapper

        run_write(
            ExpertSenderHook(expertsender_conn_id="es_kill"),
            resource="customers",
            records=RowMapper("customers", row_mapper=slow).map(records),
            mode="AddOrUpdate",
            on_invalid="skip",
            max_rejected=RECORDS,
            dead_letter_path=dead,
            logger=logging.getLogger("kill_target"),
        )
        return
    from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

    operator = ExpertSenderUpsertCustomersOperator(
        task_id="killed",
        customers=records,
        row_mapper=slow,
        on_invalid="skip",
        max_rejected=RECORDS,
        dead_letter_path=dead,
        expertsender_conn_id="es_kill",
    )

    def on_term(signum: int, frame: Any) -> None:  # what airflow.sdk's task runner does on SIGTERM
        operator.on_kill()
        print("on_kill returned", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, on_term)
    operator.execute(context={})  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
