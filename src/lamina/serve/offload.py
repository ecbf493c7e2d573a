"""CPU work of a request (JSON parsing, image and audio decoding, tokenizing) off the event loop.

The event loop only moves bytes: a 16-megapixel PNG or a 10 MiB JSON body is handled on a
small thread pool, so health checks keep answering while it runs. The pool is bounded twice:
a few threads (Pillow, soxr and ONNX Runtime release the GIL while they work), and a cap on
the jobs admitted at once, counted until a job really ends, so requests that gave up waiting
still hold their slot and a flood of bombs is refused (503) instead of queued. Each job has a
time budget: past it the request is answered 503 and the thread finishes on its own.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable


class Busy(Exception):
    """Every decoding slot is taken."""


class TooSlow(Exception):
    """A job ran past its time budget."""


class Offload:
    """A bounded pool for per-request CPU work."""

    def __init__(self, workers: int, max_jobs: int, budget_s: float):
        if workers < 1 or max_jobs < workers or budget_s <= 0:
            raise ValueError("need workers >= 1, max_jobs >= workers and budget_s > 0")
        self.budget_s = budget_s
        self.max_jobs = max_jobs
        self.jobs = 0  # admitted and not yet finished (touched only on the event loop)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lamina-decode")

    async def run(self, fn: Callable, *args):
        """``fn(*args)`` on the pool; its result, or its exception.

        Raises:
            Busy: ``max_jobs`` jobs are already admitted.
            TooSlow: the job did not finish within the budget (it still runs to its end).
        """
        if self.jobs >= self.max_jobs:
            raise Busy()
        self.jobs += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        future.add_done_callback(self._release)
        # cancels nothing: the job runs on past the budget
        done, _ = await asyncio.wait((future,), timeout=self.budget_s)
        if not done:
            future.add_done_callback(_consume)
            raise TooSlow()
        return future.result()

    def _release(self, _future) -> None:
        self.jobs -= 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _consume(future) -> None:
    """Read the exception of a job nobody waits for any more, so asyncio does not log it."""
    if not future.cancelled():
        future.exception()
