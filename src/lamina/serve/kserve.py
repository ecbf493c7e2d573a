"""KServe manifests for a model package: a ServingRuntime that runs lamina's image, and an InferenceService.

KServe's storage initializer puts the package at /mnt/models; the runtime's container runs ``lamina serve`` on it,
names the model after the InferenceService (KServe fills in ``{{.Name}}``) and answers the Open Inference Protocol
(v2) on port 8080, with probes on /v2/health/*. Memory is requested from what loading the package and running a
full batch took here, measured in a fresh process; the token comes from a Secret, unless ``no_auth`` says that the
mesh in front of the service does the authentication.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from lamina.common.errors import LaminaError
from lamina.common.files import atomic_write_text

FORMAT = {"name": "lamina", "version": "1"}  # the model format the runtime declares and the service asks for
PORT = 8080
MODEL_DIR = "/mnt/models"  # where KServe's storage initializer puts the package
TOKEN_SECRET = {
    "name": "lamina-token",
    "key": "token",
}  # kubectl create secret generic lamina-token --from-literal=token=...
MIB = 2**20
MEMORY_HEADROOM = 1.5  # requested memory over the measured peak; the limit is twice the request
BATCH = 32  # samples in the measured run: lamina serve's default --max-batch-size

# Loads the package as `lamina serve` does, runs one full batch, prints the peak resident memory in KiB.
_MEASURE = """
import resource, sys
import numpy as np
from lamina.serve.runtime import load_served_model
m = load_served_model(sys.argv[1], threads=1, spin=False)
m.run(np.zeros([int(sys.argv[2])] + m.input_shape[1:], m.prep.dtype))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def service_name(name: str) -> str:
    """``name`` as a Kubernetes object name (RFC 1123 label: lowercase letters, digits and '-', at most 63)."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    if not out:
        raise LaminaError(f"deploy: cannot make a Kubernetes name of {name!r}; pass --name")
    return out


def measured_memory(package: Path) -> int:
    """Peak bytes resident in a fresh process that loads ``package`` and runs a batch of BATCH samples."""
    r = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(package), str(BATCH)], capture_output=True, text=True, timeout=300
    )
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines() or ["no message"]
        raise LaminaError(f"deploy: {package}: the package does not load for serving ({lines[-1][:300]})")
    return int(r.stdout.strip().splitlines()[-1]) * 1024


def _quantity(n_bytes: float) -> str:
    return f"{int(-(-n_bytes // (64 * MIB)) * 64)}Mi"  # whole 64 MiB steps, rounded up


def serving_runtime(image: str, memory: int, no_auth: bool) -> dict:
    """The ServingRuntime (serving.kserve.io/v1alpha1) that runs ``image``; ``memory``: measured peak bytes."""
    request = memory * MEMORY_HEADROOM
    args = ["serve", f"{{{{.Name}}}}={MODEL_DIR}", "--host", "0.0.0.0", "--port", str(PORT)]
    container = {
        "name": "kserve-container",
        "image": image,
        "args": args + (["--no-auth"] if no_auth else []),
        "env": [] if no_auth else [{"name": "LAMINA_TOKEN", "valueFrom": {"secretKeyRef": dict(TOKEN_SECRET)}}],
        "ports": [{"containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": _probe("/v2/health/ready"),
        "livenessProbe": _probe("/v2/health/live"),
        "resources": {
            "requests": {"cpu": "1", "memory": _quantity(request)},
            "limits": {"cpu": "2", "memory": _quantity(2 * request)},
        },
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "lamina"},
        "spec": {
            "annotations": {"prometheus.kserve.io/port": str(PORT), "prometheus.kserve.io/path": "/metrics"},
            "supportedModelFormats": [{**FORMAT, "autoSelect": True}],
            "protocolVersions": ["v2"],
            "multiModel": False,
            "containers": [container],
        },
    }


def _probe(path: str) -> dict:
    return {"httpGet": {"path": path, "port": PORT}, "initialDelaySeconds": 2, "periodSeconds": 5}


def inference_service(name: str, storage_uri: str) -> dict:
    """The InferenceService (serving.kserve.io/v1beta1) that serves the package at ``storage_uri`` on the runtime."""
    model = {"modelFormat": dict(FORMAT), "runtime": "lamina", "protocolVersion": "v2", "storageUri": storage_uri}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"model": model}},
    }


def write_manifests(
    package: Path, image: str, name: str, storage_uri: str, output: Path, no_auth: bool = False
) -> dict:
    """servingruntime.yaml and inferenceservice.yaml in ``output``. Returns what was written and measured."""
    memory = measured_memory(package)
    runtime, service = serving_runtime(image, memory, no_auth), inference_service(name, storage_uri)
    files = {"servingruntime": output / "servingruntime.yaml", "inferenceservice": output / "inferenceservice.yaml"}
    for key, doc in (("servingruntime", runtime), ("inferenceservice", service)):
        atomic_write_text(files[key], yaml.safe_dump(doc, sort_keys=False))
    return {
        "name": name,
        "image": image,
        "storage_uri": storage_uri,
        "measured_memory_mib": round(memory / MIB, 1),
        "auth": "none (--no-auth)" if no_auth else f"token from Secret {TOKEN_SECRET['name']}",
        **{k: str(v) for k, v in files.items()},
    }
