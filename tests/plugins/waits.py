"""Recorders of the retry waits a hook asks for (``hook._sleep``): the tests read what was waited, and the
waits still happen, so timing tests measure the real thing."""

from __future__ import annotations

import asyncio
import time


class Waits(list):
    """Records every retry wait of a sync hook, then really waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


class AsyncWaits(list):
    """Records every retry wait of an async hook, then really waits."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(seconds)
