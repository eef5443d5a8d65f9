"""Periodic progress lines in the task log: rows read, sent, accepted, rejected, rate, elapsed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

#: Seconds between two progress lines of a long write (the first line comes after this delay too).
DEFAULT_PROGRESS_INTERVAL = 30.0


class Progress:
    """Counters of one write and a throttled logger for them.

    Counters are updated from the engine's coordinating thread only, so they need no lock.

    :param log: where the lines go (the task's logger).
    :param interval: seconds between two lines; ``0`` logs on every call to :meth:`maybe_log`.
    """

    def __init__(self, log: logging.Logger, interval: float = DEFAULT_PROGRESS_INTERVAL) -> None:
        self.log = log
        self.interval = interval
        self.started = time.monotonic()
        self._next = self.started + interval
        self.phase = "sending"
        #: appended to the progress line when set (the shared request budget after a 429)
        self.note = ""
        self.read = 0
        self.invalid = 0
        self.sent = 0
        self.accepted = 0
        self.rejected = 0
        self.batches = 0
        self.requests = 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def maybe_log(self) -> None:
        """Log a progress line when ``interval`` seconds passed since the previous one."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self.log_line()

    def log_line(self) -> None:
        elapsed = self.elapsed
        rate = self.read / elapsed if elapsed > 0 else 0.0
        self.log.info(
            "Progress (%s): read %d, invalid %d, sent %d, accepted %d, rejected %d, %d request(s), "
            "%.0f records/s, %.1f s elapsed%s.",
            self.phase,
            self.read,
            self.invalid,
            self.sent,
            self.accepted,
            self.rejected,
            self.requests,
            rate,
            elapsed,
            f"; {self.note}" if self.note else "",
        )
