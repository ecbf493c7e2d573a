"""Dynamic batching bounds, on the real Batcher with a recording inference function."""

import asyncio
import threading

import numpy as np
import pytest

from lamina.serve.batching import Batcher, Overloaded


def _recording():
    sizes = []

    def infer(x):
        sizes.append(len(x))
        return x * 2

    return sizes, infer


def test_batches_never_exceed_the_limit_and_answers_match():
    sizes, infer = _recording()

    async def main():
        b = Batcher(infer, max_batch_size=8, max_latency_ms=20, max_queue=1000)
        b.start()
        reqs = [np.full((1 + i % 3, 2), i, dtype=np.int64) for i in range(60)]
        outs = await asyncio.gather(*(b.submit(r) for r in reqs))
        big = await b.submit(np.arange(20 * 2).reshape(20, 2))
        await b.stop()
        return reqs, outs, big

    reqs, outs, big = asyncio.run(main())
    for r, o in zip(reqs, outs):
        np.testing.assert_array_equal(o, r * 2)
    np.testing.assert_array_equal(big, np.arange(40).reshape(20, 2) * 2)
    assert max(sizes) <= 8
    assert sum(sizes) == sum(len(r) for r in reqs) + 20
    assert len(sizes) < 60  # requests were actually batched together


def test_partial_batches_close_and_lone_requests_run_alone():
    sizes, infer = _recording()

    async def main():
        b = Batcher(infer, max_batch_size=64, max_latency_ms=30, max_queue=100)
        b.start()
        await b.submit(np.zeros((1, 2)))  # idle server: runs at once, alone
        burst = await asyncio.gather(*(b.submit(np.zeros((1, 2))) for _ in range(10)))
        await asyncio.gather(*(b.submit(np.zeros((1, 2))) for _ in range(10)))  # under load: waits, then closes partial
        await b.stop()
        return burst

    asyncio.run(main())
    assert sizes[0] == 1
    assert sum(sizes) == 21 and max(sizes) <= 64
    assert any(s > 1 for s in sizes[1:])  # the bursts were batched, and partial batches (< 64) closed


def test_full_queue_is_refused_at_once():
    gate = threading.Event()

    def slow(x):
        gate.wait(5)
        return x

    async def main():
        b = Batcher(slow, max_batch_size=1, max_latency_ms=0, max_queue=2)
        b.start()
        first = asyncio.ensure_future(b.submit(np.zeros((1, 1))))
        await asyncio.sleep(0.05)  # the worker took it and is blocked in inference
        assert not b.full()
        queued = [asyncio.ensure_future(b.submit(np.zeros((1, 1)))) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert b.full()  # handlers check this before reading a body
        with pytest.raises(Overloaded):
            await b.submit(np.zeros((1, 1)))
        gate.set()
        await asyncio.gather(first, *queued)
        await b.stop()

    asyncio.run(main())


def test_inference_error_reaches_the_request_and_worker_survives():
    calls = []

    def flaky(x):
        calls.append(len(x))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return x

    async def main():
        b = Batcher(flaky, max_batch_size=4, max_latency_ms=0)
        b.start()
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit(np.zeros((1, 1)))
        out = await b.submit(np.ones((1, 1)))
        await b.stop()
        return out

    assert asyncio.run(main())[0, 0] == 1


def test_waiting_requests_form_one_batch_without_a_fill_delay():
    sizes, infer = _recording()

    async def main():
        b = Batcher(infer, max_batch_size=64, max_queue=100)  # default: no fill delay
        b.start()
        await b.submit(np.zeros((1, 2)))
        start = asyncio.get_running_loop().time()
        await asyncio.gather(*(b.submit(np.zeros((1, 2))) for _ in range(10)))  # all queued before the worker runs
        took = asyncio.get_running_loop().time() - start
        await b.stop()
        return took

    took = asyncio.run(main())
    assert sizes == [1, 10]
    assert took < 0.5


def test_cheap_models_run_on_the_loop_and_slow_ones_off_it():
    def recorder(delay):
        threads = []

        def infer(x):
            threads.append(threading.current_thread() is threading.main_thread())
            threading.Event().wait(delay)
            return x

        return threads, infer

    async def serve(infer, n):
        b = Batcher(infer, max_batch_size=4)
        b.start()
        ticks = 0

        async def ticker():  # counts event-loop turns while inference runs
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        for _ in range(n):
            await b.submit(np.zeros((1, 1)))
        t.cancel()
        await b.stop()
        return ticks

    cheap, cheap_infer = recorder(0)
    asyncio.run(serve(cheap_infer, 5))
    assert cheap == [False, True, True, True, True]  # the first batch is measured off the loop, then runs inline

    slow, slow_infer = recorder(0.05)
    ticks = asyncio.run(serve(slow_infer, 4))
    assert slow == [False] * 4
    assert ticks >= 40  # the loop kept turning through 200 ms of inference
