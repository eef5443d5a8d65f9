"""Test-session set-up shared by every test.

An isolated ``AIRFLOW_HOME`` (sqlite metadata DB, examples off, a private dags folder) is configured *before*
Airflow is imported anywhere, so the suite never touches a user's Airflow installation. Fixtures: the
package's pytest plugin (``expertsender_emulator``, ``expertsender_conn``: the local ECDP and the connection
pointing at it), ``tests/plugins/emulator.py`` (the short name ``emulator``) and
``tests/plugins/airflow_dags.py`` (a migrated metadata DB and ``run_dag``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="es-airflow-home-"))
(_HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
# A connection left in the developer's environment must not leak into tests.
for _name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
    del os.environ[_name]

# The package's plugin is also a pytest11 entry point; listing it by its module name is a no-op when the
# installed provider already loaded it, and loads it when the installed metadata predates the entry point.
pytest_plugins = [
    "airflow_provider_expertsender.emulator.pytest_plugin",
    "tests.plugins.emulator",
    "tests.plugins.airflow_dags",
]


def _quiet_airflow_30_test_harness() -> None:
    """Airflow 3.0's ``dag.test()`` harness (InProcessSupervisorComms) logs every message a task sends to its
    supervisor at debug level, bodies included: ``MaskSecret(value=<the secret>)`` when a hook registers the
    API key with the masker. A real supervisor omits the bodies, and 3.1+ harnesses too. Keep debug output
    out of this line's test runs, as a deployment's INFO log level does."""
    import importlib.util

    if importlib.util.find_spec("airflow.sdk") is None:  # 2.10
        return
    if importlib.util.find_spec("airflow.sdk.bases.hook") is not None:  # 3.1+
        return
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))


_quiet_airflow_30_test_harness()
