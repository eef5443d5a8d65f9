"""Local paths and object-storage URIs behind one ``open``.

A plain path (``/data/x.csv``, ``data/x.csv``) is opened with :mod:`pathlib`; a URI (``file://``, ``s3://``,
``gs://``... with an optional ``conn_id@`` before the bucket) through Airflow's ``ObjectStoragePath``, which
finds the filesystem of the matching provider and the credentials of the connection. ``ObjectStoragePath``
lives in ``airflow.sdk`` on Airflow 3 and in ``airflow.io.path`` on 2.10; it is imported only when a URI is
used (fsspec and the storage providers are not cheap to import).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(location: str) -> bool:
    """Whether ``location`` is a URI with a scheme (``s3://...``) rather than a plain local path."""
    return bool(_SCHEME.match(location))


def object_storage_path(uri: str) -> Any:
    """Return an ``ObjectStoragePath`` for ``uri``, from the module the running Airflow line has."""
    from airflow_provider_expertsender._compat import ObjectStoragePath

    try:
        return ObjectStoragePath(uri)
    except TypeError as err:
        if "incompatible with ObjectStoragePath" not in str(err):
            raise
        # The ObjectStoragePath of Airflow 2.10 and 3.0 fails on any URI with universal-pathlib 0.3.
        raise ExpertSenderConfigError(
            f"{uri}: Airflow's ObjectStoragePath cannot open URIs with the installed universal-pathlib. On "
            "Airflow 2.10 and 3.0 install the version of Airflow's constraints file: pip install "
            "'universal-pathlib<0.3'. Plain local paths (without file://) work regardless."
        ) from err


def as_path(location: Any) -> Any:
    """A :class:`pathlib.Path` for a plain path, an ``ObjectStoragePath`` for a URI; paths pass through.

    :param location: a string, an ``os.PathLike`` or an ``ObjectStoragePath``.
    """
    if isinstance(location, str):
        return object_storage_path(location) if is_uri(location) else Path(os.path.expanduser(location))
    if isinstance(location, os.PathLike) and not hasattr(location, "fs"):
        return Path(location)
    return location


def display(location: Any) -> str:
    """The location as users wrote it, for logs and the summary (URIs carry a conn id, never credentials)."""
    return str(location)
