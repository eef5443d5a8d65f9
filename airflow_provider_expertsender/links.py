"""Extra links of the ExpertSender operators (buttons on a task instance in the Airflow UI).

Only where a stable URL exists:

* **Dead letters** (bulk write operators): the dead-letter file of the run in its object store's web console,
  when the file is on Amazon S3 (``s3://``) or Google Cloud Storage (``gs://``, ``gcs://``). A local file, or
  another store, has no console URL: no link.
* The business unit in the ExpertSender web app: **none**. The app (``https://client.ecdp.app``) has no
  documented per-unit address, and the API does not say which unit a key belongs to (``ecdp-api.md`` §1.1),
  so a link could only open whichever unit the browser is logged into.

The link is computed from the write's summary (``dead_letter_path``): on Airflow 3 by the worker when the task
ends (its value is stored in an XCom), on Airflow 2.10 by the webserver from the summary in XCom. Nothing here
touches the API or the connection.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_expertsender._compat import BaseOperatorLink, XCom

S3_CONSOLE = "https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}"
GCS_CONSOLE = "https://console.cloud.google.com/storage/browser/_details/{bucket}/{key}"


def console_url(path: Any) -> str | None:
    """The web-console URL of an object-store file, or ``None`` when its store has no stable one.

    ``s3://[conn_id@]bucket/key`` -> the AWS S3 console's object page; ``gs://`` / ``gcs://`` -> the Google
    Cloud console's object details page. The connection id of an ``s3://conn@bucket`` path is dropped.
    """
    if not isinstance(path, str) or "://" not in path:
        return None
    parts = urlsplit(path)
    bucket, key = parts.hostname or "", parts.path.lstrip("/")
    if not bucket or not key:
        return None
    if parts.scheme in ("s3", "s3a"):
        return S3_CONSOLE.format(bucket=quote(bucket, safe=""), key=quote(key, safe="/"))
    if parts.scheme in ("gs", "gcs"):
        return GCS_CONSOLE.format(bucket=quote(bucket, safe=""), key=quote(key, safe="/"))
    return None


class ExpertSenderDeadLetterLink(BaseOperatorLink):
    """The run's dead-letter file in the AWS S3 or Google Cloud Storage console ("" when there is none)."""

    name = "Dead letters"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The console URL of this task instance's dead-letter file, or ``""`` (no button)."""
        if hasattr(operator, "_summary"):
            # Airflow 3: the worker, with the operator that just ran (None: it failed before any summary). No
            # XCom lookup there: a missing XCom is logged as an error by the Task SDK.
            summary = operator._summary
        else:
            # Airflow 2.10: the webserver, with the serialized operator; the summary is the task's XCom.
            try:
                summary = XCom.get_value(ti_key=ti_key, key="return_value")
            except Exception:  # no summary (the task failed before writing one): no link
                summary = None
        if not isinstance(summary, dict):
            return ""
        return console_url(summary.get("dead_letter_path")) or ""
