"""Dynamic batching: requests for one model are queued and run together.

One batch runs at a time. When the model is idle, the next batch is whatever is already
waiting, taken at once (no fill delay: a lone request on an idle server runs immediately);
while a batch runs, new requests queue up and form the next one. ``max_latency_ms`` (default
0) adds a wait for more requests, only under load (when the previous batch held more than
one request). A batch never holds more than ``max_batch_size`` samples (a request that would
overflow it waits for the next batch; a request larger than the limit runs alone, in chunks
of the limit). The queue is bounded: when it is full a request is refused at once (503)
instead of piling up.

Where inference runs: a batch expected to take under ``INLINE_S`` (from a moving average of
the seconds per sample this model has taken) runs on the event loop itself, where the hop to
a worker thread and back would cost more than the model (small CNNs: 3,190 against 2,450 req/s
at one connection); anything slower, and the first batch, runs on a worker thread (ONNX Runtime
releases the GIL), so the event loop keeps accepting requests and answering health checks.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


INLINE_S = 0.0005  # longest expected batch run on the event loop: health checks never wait longer than this for it


class Overloaded(Exception):
    """The queue is full."""


class Batcher:
    """Batches (N_i, ...) arrays for ``infer``; one batch runs at a time."""

    def __init__(
        self,
        infer: Callable[[np.ndarray], np.ndarray],
        max_batch_size: int = 32,
        max_latency_ms: float = 0.0,
        max_queue: int = 256,
        on_batch: Callable[[int], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
        on_predict: Callable[[float], None] | None = None,
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.infer = infer
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.on_wait = on_wait  # hears each request's seconds in the queue, when its batch starts
        self.on_predict = on_predict  # hears, for each request, the seconds its batch ran
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lamina-infer")
        # moving average of inference seconds per sample; unknown before the first batch
        self._per_sample_s = float("inf")

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    def full(self) -> bool:
        """True when a new request would be refused: lets a handler answer 503 before reading its body."""
        return self._queue is not None and self._queue.full()

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """Queue ``x`` (N, ...) and wait for its outputs (N, ...).

        Raises:
            Overloaded: the queue is full.
        """
        fut = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((x, fut, time.perf_counter()))
        except asyncio.QueueFull:
            raise Overloaded() from None
        return await fut

    async def _run(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """(the outputs of ``batch``, the seconds the model took on it)."""
        if self.on_batch is not None:
            self.on_batch(len(batch))
        if self._per_sample_s * len(batch) < INLINE_S:
            out, seconds = self._timed(batch)
        else:
            out, seconds = await asyncio.get_running_loop().run_in_executor(self._pool, self._timed, batch)
        took = seconds / len(batch)
        self._per_sample_s = took if self._per_sample_s == float("inf") else 0.8 * self._per_sample_s + 0.2 * took
        return out, seconds

    def _timed(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """The model on ``batch`` and its seconds, timed where it runs: the hop to the worker thread and back is not
        the model's (under load it took longer than a small model, which then never ran inline)."""
        start = time.perf_counter()
        out = self.infer(batch)
        return out, time.perf_counter() - start

    async def _next(self, deadline: float | None):
        """The next queued request: without waiting when ``deadline`` is None, else until it."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is None or timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _worker(self) -> None:
        carry = None  # a request that did not fit in the previous batch
        under_load = False  # the previous batch held more than one request
        while True:
            first = carry if carry is not None else await self._queue.get()
            carry = None
            items, size = [first], len(first[0])
            deadline = time.monotonic() + self.max_latency if under_load else None
            while size < self.max_batch_size:
                item = await self._next(deadline)
                if item is None:
                    break
                if size + len(item[0]) > self.max_batch_size:
                    carry = item
                    break
                items.append(item)
                size += len(item[0])
            under_load = len(items) > 1
            await self._dispatch(items)

    async def _dispatch(self, items: list) -> None:
        live = [(x, f) for x, f, _ in items if not f.done()]  # a client that went away needs no answer
        if not live:
            return
        if self.on_wait is not None:
            now = time.perf_counter()
            for _, f, queued in items:
                if not f.done():
                    self.on_wait(now - queued)
        try:
            if len(live) == 1 and len(live[0][0]) > self.max_batch_size:
                x = live[0][0]
                parts = [await self._run(x[i : i + self.max_batch_size]) for i in range(0, len(x), self.max_batch_size)]
                outputs, seconds = [np.concatenate([p for p, _ in parts])], sum(t for _, t in parts)
            else:
                out, seconds = await self._run(np.concatenate([x for x, _ in live]))
                bounds = np.cumsum([0] + [len(x) for x, _ in live])
                outputs = [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            if self.on_predict is not None:
                for _ in live:
                    self.on_predict(seconds)
        except Exception as e:  # the requests get the error; the worker keeps serving
            for _, f in live:
                if not f.done():
                    f.set_exception(e)
            return
        for (_, f), out in zip(live, outputs):
            if not f.done():
                f.set_result(out)
