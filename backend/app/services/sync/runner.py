"""Background jobs of this process: started after the request that queued them commits,
cancelled (and recorded as interrupted) when the process shuts down.

Jobs spawned with the same `key` (an account) run one after the other: a sync queued while
another one of its account runs waits for it, as the job queue's per-account lock does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_of: dict[str, asyncio.Task[Any]] = {}

    def spawn(
        self, job: Coroutine[Any, Any, Any], *, name: str, key: str | None = None
    ) -> asyncio.Task[Any]:
        previous = self._last_of.get(key) if key is not None else None
        task = asyncio.create_task(self._after(previous, job), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._last_of[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return task

    @staticmethod
    async def _after(previous: asyncio.Task[Any] | None, job: Coroutine[Any, Any, Any]) -> Any:
        if previous is not None and not previous.done():
            try:
                await asyncio.wait([previous])
            except asyncio.CancelledError:
                job.close()  # cancelled while waiting: the job never started
                raise
        return await job

    def _forget(self, key: str, done: asyncio.Task[Any]) -> None:
        if self._last_of.get(key) is done:
            del self._last_of[key]

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Wait for every job started so far (tests, CLI)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace_seconds)
            if pending:
                log.warning("background jobs did not stop in time", extra={"jobs": len(pending)})
