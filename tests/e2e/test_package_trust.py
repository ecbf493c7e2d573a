"""A model package is semi-trusted (`lamina serve models:/...` pulls it from a registry): every file
is hashed in lamina.json, names stay inside the package, and graphs carry their own weights."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import free_port, run_cli


@pytest.fixture
def package(digits_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(digits_run / "model", out / "model")
    return out / "model"


def _meta(package):
    return json.loads((package / "lamina.json").read_text())


def _rewrite(package, meta):
    (package / "lamina.json").write_text(json.dumps(meta))


def test_every_file_is_hashed(package):
    files = _meta(package)["files"]
    assert set(files) == {"model.safetensors", "model.onnx", "parity.safetensors"}
    assert all(len(d) == 64 for d in files.values())


def test_a_truncated_weights_file_is_exit_2_naming_it(package, digits):
    weights = package / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    image = next((digits / "test" / "3").glob("*.png"))
    for args in (("predict", package, image), ("serve", package, "--port", str(free_port()))):
        r = run_cli(*args)
        assert r.returncode == 2, r.stderr
        assert "model.safetensors: sha256 does not match" in r.stderr and "bug" not in r.stderr


def test_a_truncated_weights_file_without_a_hash_is_still_exit_2(package, digits):
    meta = _meta(package)
    del meta["files"]["model.safetensors"]
    _rewrite(package, meta)
    weights = package / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    r = run_cli("predict", package, next((digits / "test" / "3").glob("*.png")))
    assert r.returncode == 2 and "model.safetensors: not a readable safetensors file" in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../b"])
def test_names_that_leave_the_package_are_refused(package, name):
    meta = _meta(package)
    meta["files"][name] = "0" * 64
    _rewrite(package, meta)
    r = run_cli("serve", package, "--port", str(free_port()))
    assert r.returncode == 2 and "leaves the package" in r.stderr, r.stderr


def test_a_symlink_out_of_the_package_is_refused(package, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(package / "model.safetensors", outside)
    (package / "model.safetensors").symlink_to(outside)
    r = run_cli("serve", package, "--port", str(free_port()))
    assert r.returncode == 2 and "links outside the package" in r.stderr, r.stderr


def test_onnx_external_data_is_refused(package):
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    from lamina.common.files import sha256_file

    model = onnx.load(str(package / "model.onnx"))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save_model(model, str(package / "model.onnx"))
    assert (package / "weights.bin").is_file()
    meta = _meta(package)
    meta["export"]["sha256"] = meta["files"]["model.onnx"] = sha256_file(package / "model.onnx")
    _rewrite(package, meta)
    r = run_cli("serve", package, "--port", str(free_port()))
    assert r.returncode == 2 and "external data" in r.stderr, r.stderr


@pytest.mark.parametrize(
    "key, value, named",
    [
        ("modality", "video", "modality"),
        ("labels", "cat,dog", "labels"),
        ("export", {"format": "onnx"}, "export.file"),
        ("surprise", 1, "surprise"),
    ],
)
def test_a_lamina_json_off_its_schema_is_exit_2_naming_the_key(package, digits, key, value, named):
    meta = _meta(package)
    meta[key] = value
    _rewrite(package, meta)
    for args in (
        ("predict", package, next((digits / "test" / "3").glob("*.png"))),
        ("serve", package, "--port", str(free_port())),
    ):
        r = run_cli(*args)
        assert r.returncode == 2 and f"lamina.json: {named}:" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_weights_that_do_not_fit_the_described_network_are_exit_2(package, digits):
    meta = _meta(package)
    meta["model"]["width"] = 2 * meta["model"]["width"]  # lamina.json now describes a wider network
    _rewrite(package, meta)
    r = run_cli("predict", package, next((digits / "test" / "3").glob("*.png")))
    assert r.returncode == 2, r.stderr
    assert "model.safetensors: the weights do not fit the resnet-small network" in r.stderr and "bug" not in r.stderr
