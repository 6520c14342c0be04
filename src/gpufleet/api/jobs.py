"""Background work of one API process: one planner thread, so solves never fight the
request handlers for more than one core at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("gpufleet.jobs")


class JobRunner:
    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gpufleet-job")

    def submit(self, work: Callable[[], None]) -> Future[None]:
        future = self._pool.submit(work)
        future.add_done_callback(_log_failure)
        return future

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future[None]) -> None:
    if future.exception() is not None:
        log.error("background job failed", exc_info=future.exception())
