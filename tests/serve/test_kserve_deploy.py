"""`lamina deploy kserve`: a ServingRuntime and an InferenceService that KServe's own models accept, whose container
args serve a copy of the package standing in for /mnt/models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import assert_infers_a_digit, free_port, run_cli, wait_ready

PRIMITIVES = {"str": str, "bool": bool, "int": int, "float": (int, float), "datetime": str}


def check_schema(value, type_name: str, where: str = "") -> None:
    """``value`` (parsed YAML) against the type KServe's SDK declares for it (its openapi_types, down to the
    Kubernetes core types): no unknown key, every type right, and each object built through the SDK's own setters,
    which refuse a missing required field or a value outside an enum."""
    import kserve
    import kubernetes.client

    if type_name.lower() == "object":  # IntOrString and free-form fields
        return
    if type_name.lower().startswith("list["):
        assert isinstance(value, list), f"{where}: expected a list, got {value!r}"
        for i, item in enumerate(value):
            check_schema(item, type_name[5:-1], f"{where}[{i}]")
        return
    if type_name.lower().startswith(("dict(", "dict[")):  # kserve writes dict(str, str), kubernetes Dict[str, str]
        assert isinstance(value, dict), f"{where}: expected a mapping, got {value!r}"
        for key, item in value.items():
            check_schema(item, type_name[type_name.index(",") + 1 : -1].strip(), f"{where}.{key}")
        return
    if type_name in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[type_name]) and not (type_name == "int" and isinstance(value, bool))
        assert ok, f"{where}: expected {type_name}, got {value!r}"
        return
    cls = getattr(kserve, type_name, None) or getattr(kubernetes.client, type_name)
    assert isinstance(value, dict), f"{where}: expected a {type_name} object, got {value!r}"
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    unknown = sorted(set(value) - set(by_json))
    assert not unknown, f"{where}: {type_name} has no field {unknown}"
    for key, item in value.items():
        check_schema(item, cls.openapi_types[by_json[key]], f"{where}.{key}")
    cls(**{by_json[k]: v for k, v in value.items()})


@pytest.fixture(scope="module")
def manifests(digits_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy")
    r = run_cli("deploy", "kserve", digits_run, "--image", "registry.example/lamina:0.1.0", "--output", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    runtime = yaml.safe_load((out / "servingruntime.yaml").read_text())
    service = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    return summary, runtime, service


def test_the_manifests_validate_against_kserves_schema(manifests):
    summary, runtime, service = manifests
    check_schema(runtime, "V1alpha1ServingRuntime")
    check_schema(service, "V1beta1InferenceService")
    assert (runtime["kind"], service["kind"]) == ("ServingRuntime", "InferenceService")
    spec = runtime["spec"]
    assert spec["supportedModelFormats"] == [{"name": "lamina", "version": "1", "autoSelect": True}]
    assert spec["protocolVersions"] == ["v2"]
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "lamina" and model["storageUri"] == "pvc://lamina-models/digits"
    assert service["metadata"]["name"] == summary["name"] == "digits"
    requested = int(container["resources"]["requests"]["memory"].removesuffix("Mi"))
    # the check can fail: an unknown field, a wrong type, a missing required field
    import copy

    for path, change in ((("containers", 0), {"portz": []}), (("supportedModelFormats", 0), {"autoSelect": "yes"})):
        bad = copy.deepcopy(runtime)
        bad["spec"][path[0]][path[1]].update(change)
        with pytest.raises(AssertionError):
            check_schema(bad, "V1alpha1ServingRuntime")
    bad = copy.deepcopy(runtime)
    del bad["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError):
        check_schema(bad, "V1alpha1ServingRuntime")
    assert summary["measured_memory_mib"] <= requested <= 4 * summary["measured_memory_mib"] + 64


def test_a_name_kubernetes_refuses_is_made_one_it_takes(digits_run, tmp_path):
    r = run_cli("deploy", "kserve", digits_run, "--image", "x", "--name", "My_Model.v2", "--output", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "my-model-v2"
    r = run_cli("deploy", "kserve", tmp_path / "nothing", "--image", "x")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_the_runtime_args_serve_a_copy_of_the_package(manifests, digits_run, digits, tmp_path):
    """The container's args as KServe runs them ({{.Name}} filled in, the package at /mnt/models), on loopback."""
    _, runtime, service = manifests
    (container,) = runtime["spec"]["containers"]
    mount = tmp_path / "mnt-models"
    shutil.copytree(digits_run / "model", mount)
    name, port = service["metadata"]["name"], free_port()
    args = [a.replace("{{.Name}}", name).replace("/mnt/models", str(mount)) for a in container["args"]]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
    env = {**os.environ, "LAMINA_TOKEN": "from-the-secret"}
    assert [e["name"] for e in container["env"]] == ["LAMINA_TOKEN"]
    proc = subprocess.Popen([sys.executable, "-m", "lamina", *args], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, container["readinessProbe"]["httpGet"]["path"])
        assert_infers_a_digit(url, name, digits, digits_run, "from-the-secret")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
