"""Batch scoring: a package's ONNX graph over a folder, manifest or text table of any size, without torch.

One output row per input, in the input's order: the answer ``lamina predict`` gives, or the reason an
input could not be scored (the job goes on). Files are decoded in worker processes (texts in a thread)
ahead of the graph, so decoding and inference overlap; at most workers + 3 batches are in memory. A rerun with the same
output goes on after the last complete row (the input must still list the same inputs up to there);
``--shard I/N`` scores every N-th input from the I-th (0-based), each shard into its own file.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from lamina.common.errors import DataError
from lamina.common.progress import Progress
from lamina.serve.inputs import Input, Source
from lamina.serve.outputs import Sink
from lamina.serve.runtime import InputError, ServedModel, load_decoder

BATCH_SIZE = 256  # inputs per graph call: 15,500 files/s against 13,600 at 64 (8x8 PNGs, benchmarks/batch_scoring.py, before the read fix)
MAX_FILE_BYTES = 256 << 20  # an input file larger than this is listed as an error, not read
PROCESSES_FROM = 8  # batches: longer jobs decode files in worker processes


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """'I/N' with 0 <= I < N.

        Raises:
            DataError: anything else.
        """
        if text is None:
            return cls()
        i, _, n = text.partition("/")
        if not (i.strip().isdigit() and n.strip().isdigit()) or not 0 <= int(i) < int(n):
            raise DataError(f"--shard {text}: expected I/N with 0 <= I < N, e.g. 0/4 ... 3/4")
        return cls(int(i), int(n))

    def output(self, path: str | Path) -> Path:
        """preds.csv -> preds.1-of-4.csv: each shard writes its own file."""
        p = Path(path)
        return p if self.count == 1 else p.with_name(f"{p.stem}.{self.index}-of-{self.count}{p.suffix}")

    def size(self, total: int) -> int:
        return len(range(self.index, total, self.count))


def score(
    model: ServedModel,
    source: Source,
    sink: Sink,
    shard: Shard = Shard(),
    batch_size: int = BATCH_SIZE,
    top_k: int = 5,
    workers: int | None = None,
    quiet: bool = False,
) -> dict:
    """Score the shard's inputs not yet in ``sink``; returns {"output", "rows", "scored", "errors", "resumed_after", "seconds"}.

    Raises:
        DataError: the output's rows do not match the input's (it changed since the partial run).
    """
    t0 = time.perf_counter()
    todo = islice(source, shard.index, None, shard.count)
    _skip_done(todo, sink, source)
    remaining = shard.size(len(source)) - sink.done
    progress = Progress(max(remaining, 0), f"scoring {source.path.name}", quiet=quiet)
    scored = errors = 0
    written = None  # the previous batch's rows, being formatted and written while the graph runs this one

    def count(done) -> None:
        nonlocal scored, errors
        n, bad = done.result()
        scored, errors = scored + n, errors + bad
        progress.update(n, rate=f"{scored / (time.perf_counter() - t0):.0f}/s", errors=errors)

    try:
        processes = remaining > PROCESSES_FROM * batch_size  # a short job does not pay the processes' start (~0.5 s)
        with ThreadPoolExecutor(1) as writer:
            for keys, batch, problems in _decoded_batches(
                model, todo, batch_size, workers or os.cpu_count() or 1, processes
            ):
                scores = model.run(model.check_batch(batch)) if batch is not None else None
                if written is not None:
                    count(written)
                written = writer.submit(_write, model, sink, keys, scores, problems, top_k)
            if written is not None:
                count(written)
    except BaseException:
        progress.close()
        sink.close(complete=False)
        raise
    progress.close()
    sink.close(complete=True)
    return {
        "output": str(sink.path),
        "rows": sink.done + scored,
        "scored": scored,
        "errors": errors,
        "resumed_after": sink.done,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _skip_done(todo, sink: Sink, source: Source) -> None:
    """Advance past the rows a previous run wrote, checking that the last of them is the same input."""
    if not sink.done:
        return
    last = None
    for last in islice(todo, sink.done):
        pass
    if last is None or last.key != sink.last_key:
        sink.close(complete=False)
        raise DataError(
            f"{sink.spool}: holds {sink.done} rows ending with {sink.last_key!r}, but input {sink.done} of "
            f"{source.path} is {last.key if last else 'missing'!r}: the input changed since that run. "
            "Remove the partial output or choose another --output."
        )


def _decoded_batches(model: ServedModel, inputs, batch_size: int, workers: int, processes: bool):
    """(keys, model input batch or None, {position: error}) per batch, in input order, decoded ahead of the graph:
    files in ``workers`` processes when ``processes`` (decoding is mostly Python for small files, and threads
    would share one GIL with the graph's loop), texts in a thread (the tokenizer runs in Rust, on all cores)."""
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    if processes and model.prep.decode_in_processes:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_decoder,
            initargs=(str(model.package),),
        )
        decode = _decode_here
    else:
        pool, decode, workers = ThreadPoolExecutor(1), partial(_decode, model), 1

    def produce():
        try:
            with pool:
                pending: deque = deque()
                while not stop.is_set():
                    chunk = list(islice(inputs, batch_size))
                    if chunk:
                        pending.append(pool.submit(decode, chunk))
                    if not pending:
                        break
                    if not chunk or len(pending) > workers:  # every worker busy: hand on the oldest batch
                        ready.put(pending.popleft().result())
            ready.put(None)
        except BaseException as e:  # surfaced in the consumer
            ready.put(e)

    thread = threading.Thread(target=produce, name="lamina-score-decode", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass


_DECODER: ServedModel | None = None  # in a decoding process: the package's decoding, without a session


def _start_decoder(package: str) -> None:
    global _DECODER
    _DECODER = load_decoder(package)


def _decode_here(chunk: list[Input]):
    return _decode(_DECODER, chunk)


def _decode(model: ServedModel, chunk: list[Input]):
    keys = [i.key for i in chunk]
    if all(i.path is None and i.data is None and i.error is None and i.record is None for i in chunk):  # texts
        arrays = _encode_texts(model, chunk)
    else:
        arrays = [_decode_one(model, i) for i in chunk]
    problems = {n: a for n, a in enumerate(arrays) if isinstance(a, str)}
    good = [a for a in arrays if not isinstance(a, str)]
    return keys, (np.stack(good) if good else None), problems


def _decode_one(model: ServedModel, item: Input):
    """The model input for one file, or the reason it cannot be scored."""
    if item.error is not None:
        return item.error
    if item.data is not None:
        return _decode_bytes(model, item.data)
    if item.record is not None:
        return _decode_record(model, item.record, item.root)
    if item.path is None:
        return "no path in this row" if item.text is None else _encode_texts(model, [item])[0]
    try:
        with open(item.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                return f"file is larger than {MAX_FILE_BYTES:,} bytes, the most that is read"
            # Read what the file holds, not read(MAX_FILE_BYTES + 1): CPython allocates the requested buffer first (an
            # mmap and munmap of 256 MB per file, 58 us against 30 us for an 8x8 PNG). A file that grows meanwhile is
            # read up to its size then, and decoded or refused as truncated.
            data = f.read(size)
    except OSError as e:
        return f"cannot read ({e.strerror})"
    return _decode_bytes(model, data)


def _decode_record(model: ServedModel, record: dict, root: str | None):
    """A table row's model input (its file cells under ``root``), or why it cannot be scored."""
    try:
        return model.from_named_inputs({name: [value] for name, value in record.items()}, root)[0]
    except InputError as e:
        return str(e)


def _decode_bytes(model: ServedModel, data: bytes):
    if len(data) > MAX_FILE_BYTES:
        return f"file is larger than {MAX_FILE_BYTES:,} bytes, the most that is read"
    try:
        return model.decode_file(data)
    except InputError as e:
        return str(e)


def _encode_texts(model: ServedModel, chunk: list[Input]) -> list:
    """Token ids for each text of a table (tokenized together), or the reason a row has none."""
    out: list = [None] * len(chunk)
    good = []
    for n, item in enumerate(chunk):
        if item.text is None:
            out[n] = "no text in this row"
        elif not item.text.strip():
            out[n] = "the text is empty"
        else:
            good.append(n)
    if good:
        try:
            ids = model.encode_texts([chunk[n].text for n in good])
            for n, row in zip(good, ids):
                out[n] = row
        except InputError:  # one bad text: find it by encoding them one by one
            for n in good:
                try:
                    out[n] = model.encode_texts([chunk[n].text])[0]
                except InputError as e:
                    out[n] = str(e).replace("text 1 ", "the text ")
    return out


def _write(model: ServedModel, sink: Sink, keys: list[str], scores, problems: dict, top_k: int) -> tuple[int, int]:
    """Write one output row per key: the task's answer, or the error in its place; (rows, errors)."""
    sink.write(_rows(model, keys, scores, problems, top_k))
    return len(keys), len(problems)


def _rows(model: ServedModel, keys: list[str], scores, problems: dict, top_k: int) -> list[dict]:
    """{"input", the task's answer fields} per key, or {"input", "error"} for a key that could not be scored."""
    answers = iter(model.task.answer(scores, top_k) if scores is not None else [])
    return [
        {"input": key, "error": " ".join(problems[n].split())} if n in problems else {"input": key, **next(answers)}
        for n, key in enumerate(keys)
    ]


def answer_rows(model: ServedModel, items: list[Input], top_k: int = 5) -> list[dict]:
    """The rows ``lamina predict --output`` writes for ``items``, decoded and scored in this process (a Spark task,
    a Ray actor): an input that cannot be read or decoded gets its reason in "error", and the others go on."""
    keys, batch, problems = _decode(model, items)
    scores = None
    if batch is not None:
        scores = np.concatenate(
            [model.run(model.check_batch(batch[i : i + BATCH_SIZE])) for i in range(0, len(batch), BATCH_SIZE)]
        )
    return _rows(model, keys, scores, problems, top_k)
