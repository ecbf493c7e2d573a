"""`make image` builds the serving image here (buildah, from a Debian base made with debootstrap: no registry), and
the image serves a real package mounted at /mnt/models with the KServe runtime's own args, answered from the host."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_infers_a_digit, free_port, run_cli, wait_ready

REPO = Path(__file__).resolve().parents[2]
MIRROR = "http://deb.debian.org/debian"  # Debian's packages are reachable from these machines
STORAGE = ["--storage-driver", "vfs"]  # what make image uses with buildah (scripts/build-image.sh)


def _buildah(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["buildah", *STORAGE, *map(str, args)], capture_output=True, text=True, **kw)


def _size(image: str) -> str:
    return _buildah("images", "--format", "{{.Size}}", image, check=True).stdout.strip()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(the image built by make image, its base): both removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("buildah") or not shutil.which("debootstrap"):
        pytest.fail("the image test needs root, buildah and debootstrap (scripts/system-packages.sh installs them)")
    tag = f"{os.getpid()}"
    base, built = f"localhost/lamina-test-base:{tag}", f"localhost/lamina-test:{tag}"
    root = tmp_path_factory.mktemp("rootfs") / "debian"
    try:
        packages = "python3,python3-pip,python3-venv,python-is-python3"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={packages}", "bookworm", str(root), MIRROR],
            check=True,
            capture_output=True,
        )
        ctr = _buildah("from", "scratch", check=True).stdout.strip()
        _buildah("copy", ctr, root, "/", check=True)
        _buildah("commit", "-q", ctr, base, check=True)
        _buildah("rm", ctr)
        shutil.rmtree(root)
        r = subprocess.run(
            ["make", "image", f"BASE={base}", f"IMAGE={built}", f"PYTHON={sys.executable}"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        yield built, base
    finally:
        for name in (built, base):
            _buildah("rmi", "-f", name)


def test_the_image_serves_a_package_with_the_kserve_runtime_args(image, digits_run, digits, tmp_path):
    built, base = image
    r = run_cli("deploy", "kserve", digits_run, "--image", built, "--output", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    import yaml

    (container,) = yaml.safe_load((tmp_path / "servingruntime.yaml").read_text())["spec"]["containers"]
    assert container["image"] == built
    port = free_port()
    args = [a.replace("{{.Name}}", "digits") for a in container["args"]]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)  # loopback in tests
    ctr = _buildah("from", built, check=True).stdout.strip()
    user = _buildah("run", "--isolation", "chroot", ctr, "--", "python", "-c", "import os; print(os.getuid())")
    assert user.stdout.strip() == "65532", user.stderr  # the image's non-root user
    no_torch = "import importlib.util as u; print(u.find_spec('torch'))"
    assert _buildah("run", "--isolation", "chroot", ctr, "--", "python", "-c", no_torch).stdout.strip() == "None"
    command = ["buildah", *STORAGE, "run", "--isolation", "chroot", "--env", "LAMINA_TOKEN=t0ken"]
    command += ["-v", f"{digits_run / 'model'}:/mnt/models:ro", ctr, "--", "lamina", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, seconds=120)
        assert_infers_a_digit(url, "digits", digits, digits_run, "t0ken")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        _buildah("rm", ctr)
    print(f"image {built}: {_size(built)}, its base {_size(base)}")
