"""The benchmarks' emulator: ``python -m airflow_provider_expertsender.emulator`` in a process of its own.

Shared by ``bench_sync.py`` and ``bench_emulator.py`` (scripts run from this folder import it by name).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def emulator_process(api_key: str, *options: str) -> Iterator[str]:
    """Run the emulator on a free loopback port with ``options`` (``--latency-ms 20``...); yield its URL.

    :param api_key: the one API key it accepts.
    """
    command = [sys.executable, "-m", "airflow_provider_expertsender.emulator", "--port", "0", "--quiet"]
    proc = subprocess.Popen(
        [*command, "--api-key", api_key, *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ECDP emulator listening on http://127.0.0.1:PORT (...)"
        yield next(word for word in line.split() if word.startswith("http://")).rstrip(".,")
    finally:
        proc.terminate()
        proc.wait(30)
