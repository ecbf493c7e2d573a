"""SIGTERM as preemption: finish the step in progress, write a checkpoint, exit.

Schedulers (Kubernetes, SLURM, spot instances) send SIGTERM and wait a grace period before
SIGKILL. A training that checkpoints on SIGTERM loses no work: the same command resumes it.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from lamina.common.errors import LaminaError


class Preempted(LaminaError):
    """Training stopped on SIGTERM after writing a checkpoint (exit 143, as for a process ended by SIGTERM)."""

    exit_code = 143


@contextlib.contextmanager
def sigterm_requests():
    """An Event set when SIGTERM arrives during the ``with`` block (the main thread only; elsewhere it never sets)."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: requested.set())
    try:
        yield requested
    finally:
        signal.signal(signal.SIGTERM, previous)
