"""Two machines, made on this one: two network namespaces joined by a veth pair, each with its own hostname (a UTS
namespace) and a hosts file that names both, as a cluster's DNS would. `lamina train --nnodes 2 --nproc 1
--rdzv-endpoint` on each trains one model over the veth; a SIGKILLed worker on the second machine restarts the
group from the last checkpoint. The run directory sits on a filesystem both see (here, this machine's), as the
README asks of machines that train together."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from test_distributed import PLAIN, _train_losses, _workers

NET = "10.231.{}.{}"  # addresses only inside the namespaces the test makes


@pytest.fixture
def two_hosts():
    """[(namespace, hostname, address)] of two machines joined by a veth pair; removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"):
        pytest.fail("the two-host tests need root, iproute2 and util-linux's unshare")
    tag = os.getpid() % 10000
    hosts = [
        (f"lamina-{side}{tag}", f"lamina-node-{side}{tag}", NET.format(tag % 250, i + 1)) for i, side in enumerate("ab")
    ]
    links = [f"lv{side}{tag}" for side in "ab"]
    made, etc_made = [], not Path("/etc/netns").exists()
    try:
        for ns, _, _ in hosts:
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("link", "add", links[0], "type", "veth", "peer", "name", links[1])
        for (ns, name, addr), link in zip(hosts, links):
            _ip("link", "set", link, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", link)
            _ip("-n", ns, "link", "set", link, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            etc = Path("/etc/netns") / ns  # ip netns exec mounts these over /etc
            etc.mkdir(parents=True, exist_ok=True)
            names = "".join(f"{a} {n}\n" for _, n, a in hosts)
            (etc / "hosts").write_text(f"127.0.0.1 localhost\n{names}")
        yield hosts
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # takes its end of the veth pair along
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        if etc_made:
            shutil.rmtree("/etc/netns", ignore_errors=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _on(host, *cmd) -> list[str]:
    """``cmd`` as it runs on ``host``: in its network namespace, under its own hostname."""
    ns, name, _ = host
    script = f'hostname {name} && exec "$@"'
    return ["ip", "netns", "exec", ns, "unshare", "--uts", "--", "sh", "-c", script, "sh", *map(str, cmd)]


def _train_on_both(hosts, digits, out: Path, *extra) -> list[subprocess.Popen]:
    endpoint = f"{hosts[0][2]}:29500"
    cmd = [sys.executable, "-m", "lamina", "train", digits, "--output", out, "--nnodes", "2", "--nproc", "1"]
    cmd += ["--rdzv-endpoint", endpoint, *extra]
    return [
        subprocess.Popen(
            _on(h, *cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        for h in hosts
    ]


def _finish(procs, timeout=600) -> list[tuple[str, str]]:
    try:
        return [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # the process groups we started
                p.wait()


def test_two_hosts_train_one_model_as_one_process_does(two_hosts, digits, tmp_path):
    args = ["--set", "train.epochs=3", "--set", "train.batch_size=64", *PLAIN]
    one = run_cli("train", digits, "--output", tmp_path / "one", *args)
    assert one.returncode == 0, one.stderr
    procs = _train_on_both(two_hosts, digits, tmp_path / "two", *args)
    outs = _finish(procs)
    assert all(p.returncode == 0 for p in procs), [e[-3000:] for _, e in outs]
    a, b = _train_losses(tmp_path / "one"), _train_losses(tmp_path / "two")
    assert [s for s, _ in a] == [s for s, _ in b] and len(a) >= 3
    assert np.allclose([x for _, x in a], [x for _, x in b], rtol=1e-4, atol=0), (a, b)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["status"] == "completed"


def test_a_killed_worker_on_the_second_host_restarts_the_group(two_hosts, digits, tmp_path):
    out = tmp_path / "run"
    args = ["--max-restarts", "1", "--set", "train.epochs=25", "--set", "train.checkpoint_every=5", *PLAIN]
    procs = _train_on_both(two_hosts, digits, out, *args)
    try:
        deadline = time.monotonic() + 180
        while not (out / "checkpoints" / "last").is_dir():
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.05)
        launcher = _launcher(procs[1].pid)
        workers = _workers(launcher)
        assert workers, "no worker found on the second host"
        os.kill(next(iter(workers.values())), signal.SIGKILL)  # a worker we started, by PID
    except BaseException:
        _finish(procs, timeout=1)
        raise
    outs = _finish(procs)
    assert all(p.returncode == 0 for p in procs), [e[-3000:] for _, e in outs]
    assert "resuming" in "".join(e for _, e in outs)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["result"]["epochs"] == 25


def _launcher(pid: int) -> int:
    """The `lamina train` launcher (torchrun's agent) under the wrapper processes of ``_on``: the process below
    ``pid`` that has worker children."""
    todo = [pid]
    while todo:
        p = todo.pop()
        if _workers(p):
            return p
        todo += [int(c) for c in subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout.split()]
    raise AssertionError(f"no torchrun agent under {pid}")


def test_batch_scoring_shards_on_two_hosts_make_one_complete_output(two_hosts, digits, digits_run, tmp_path):
    """`--shard 0/2` on one machine and `--shard 1/2` on the other: together, every row of the one-machine output."""
    import csv

    folder = digits / "test"
    assert run_cli("predict", digits_run, folder, "--output", tmp_path / "one.csv").returncode == 0
    cmd = [sys.executable, "-m", "lamina", "predict", digits_run, folder, "--output", tmp_path / "preds.csv"]
    procs = [
        subprocess.Popen(_on(h, *cmd, "--shard", f"{i}/2"), stderr=subprocess.PIPE, text=True, start_new_session=True)
        for i, h in enumerate(two_hosts)
    ]
    outs = _finish(procs)
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]

    def rows(path):
        with open(path, newline="") as f:
            return [(r["input"], r["label"], r["error"]) for r in csv.DictReader(f)]

    shards = [rows(tmp_path / f"preds.{i}-of-2.csv") for i in range(2)]
    assert shards[0] and shards[1]
    merged = [r for pair in zip(*shards) for r in pair] + shards[0][len(shards[1]) :]  # shard i holds rows i, i+2, ...
    assert merged == rows(tmp_path / "one.csv")
