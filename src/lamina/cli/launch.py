"""`lamina train --nproc/--nnodes`: hand the command to PyTorch's elastic launcher (torchrun).

Imported by the CLI at start-up: torch is only imported when a launch actually happens.
"""

from __future__ import annotations

import os
import sys

from lamina.common.errors import LaminaError
from lamina.common.runtime import dist_env

DIST_FLAGS = {"--nproc": 1, "--nnodes": 1, "--rdzv-endpoint": 1, "--max-restarts": 1}


def worker_argv(argv: list[str]) -> list[str]:
    """The train command line without the launcher's own flags (both --flag V and --flag=V forms)."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in DIST_FLAGS:
            skip = 0 if "=" in arg else DIST_FLAGS[name]
            continue
        out.append(arg)
    return out


def launch_distributed(a, argv: list[str]) -> None:
    """Run `lamina train` under torch.distributed.run (elastic): --nproc workers on each of --nnodes machines."""
    nproc, nnodes = a.nproc or 1, a.nnodes or 1
    if nproc < 1 or nnodes < 1 or a.max_restarts < 0:
        raise LaminaError("--nproc and --nnodes must be >= 1, --max-restarts >= 0")
    if nnodes > 1 and not a.rdzv_endpoint:
        raise LaminaError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every machine)")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    # Each round of the group gets a store of its own, held by its rank 0 worker. The agents' shared store outlives
    # the rounds, so a restarted group needs keys of its own there, and the only name torchrun gives a round is the
    # restart count: an agent that restarts its workers because another machine rejoined does not count that as a
    # restart, so the two machines' workers waited under different names for 600 s (measured, two hosts).
    os.environ["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"
    rdzv = ["--rdzv-backend", "c10d", "--rdzv-endpoint", a.rdzv_endpoint] if a.rdzv_endpoint else ["--standalone"]
    args = [
        "--nnodes",
        str(nnodes),
        "--nproc-per-node",
        str(nproc),
        "--max-restarts",
        str(a.max_restarts),
        "--monitor-interval",
        "0.5",
        *rdzv,
        "--module",
        "lamina",
        *worker_argv(argv),
    ]
    try:
        torchrun(args)
    except ChildFailedError as e:
        failures = "; ".join(
            f"rank {rank} (pid {f.pid}) "
            + (f"killed by signal {-f.exitcode}" if f.exitcode < 0 else f"exited with status {f.exitcode}")
            for rank, f in sorted(e.failures.items())
        )
        codes = {f.exitcode for f in e.failures.values()}
        raise LaminaError(
            f"distributed training failed: {failures}; restarts used up (--max-restarts {a.max_restarts}). "
            "The run directory keeps its last checkpoint: run the same command to resume.",
            exit_code=2 if codes == {2} else 1,
        ) from None


def in_worker() -> bool:
    """True inside a process torchrun started for a group of more than one."""
    return dist_env()[1] > 1


def peer_lost(e: Exception) -> bool:
    """Report a worker whose collective failed because a peer died; False for any other error."""
    if not (type(e).__module__.startswith("torch") or "gloo" in str(e) or "NCCL" in str(e)):
        return False
    print(
        f"error: worker rank {dist_env()[0]} lost its peers ({str(e).splitlines()[0][:200]}); "
        "torchrun restarts the group if --max-restarts allows",
        file=sys.stderr,
    )
    return True
