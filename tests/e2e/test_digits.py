"""The real pipeline on scikit-learn's digits, through the `lamina` command line."""

import json
from pathlib import Path

import pytest

from helpers import run_cli


def test_zero_config_training_reaches_accuracy(digits_run):
    info = json.loads((digits_run / "run.json").read_text())
    assert info["status"] == "completed"
    assert info["result"]["metrics"]["test"]["accuracy"] >= 0.97


def test_run_directory_contract(digits_run):
    names = {p.name for p in digits_run.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "checkpoints", "model", "data.json", "run.json"} <= names
    assert {p.name for p in (digits_run / "checkpoints").iterdir()} >= {"last", "best"}
    for tag in ("last", "best"):
        assert (digits_run / "checkpoints" / tag / "manifest.json").is_file()
    from safetensors.torch import load_file

    from lamina.training.checkpoint import load_checkpoint

    best, _, state, problems = load_checkpoint(digits_run / "checkpoints", "best")
    package = load_file(digits_run / "model" / "model.safetensors")
    assert problems == [] and set(best) == set(package) and all((best[k] == package[k]).all() for k in best)
    last_state = load_checkpoint(digits_run / "checkpoints", "last")[2]
    assert (
        last_state["train"]["best_epoch"]
        == state["train"]["best_epoch"]
        == json.loads((digits_run / "model" / "lamina.json").read_text())["training"]["best_epoch"]
    )
    lines = [json.loads(x) for x in (digits_run / "metrics.jsonl").read_text().splitlines()]
    assert all({"step", "epoch", "split"} <= set(x) for x in lines)
    assert {"train", "val", "test"} <= {x["split"] for x in lines}
    meta = json.loads((digits_run / "model" / "lamina.json").read_text())
    assert meta["modality"] == "image" and meta["labels"] == [str(i) for i in range(10)]
    assert meta["input"]["shape"] == [-1, 1, 8, 8] and len(meta["data_fingerprint"]) == 64
    assert {"lamina", "torch", "python"} <= set(meta["versions"])
    import yaml

    cfg = yaml.safe_load((digits_run / "config.yaml").read_text())
    assert cfg["data"]["image_size"] == 8 and cfg["data"]["channels"] == 1 and cfg["model"]["width"] == 32
    assert not list(digits_run.rglob("*.pt")) and not list(digits_run.rglob("*.pkl"))


def test_evaluate_json(digits_run, digits):
    r = run_cli("evaluate", digits_run, digits, "--split", "test", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert {"accuracy", "macro_f1", "n", "per_class", "confusion_matrix", "labels"} <= set(m)
    assert m["n"] == 359 and m["accuracy"] >= 0.97
    assert sum(map(sum, m["confusion_matrix"])) == 359
    run = json.loads((digits_run / "run.json").read_text())
    assert m["accuracy"] == pytest.approx(run["result"]["metrics"]["test"]["accuracy"])


def test_evaluate_subset_of_labels_via_model_dir(digits_run, digits, tmp_path):
    import shutil

    for label in ("3", "7"):
        shutil.copytree(digits / "test" / label, tmp_path / label)
    import lamina

    m = lamina.evaluate(digits_run / "model", tmp_path)
    assert m["n"] == len(list(tmp_path.rglob("*.png"))) and set(m["per_class"]) == {"3", "7"}
    assert len(m["confusion_matrix"]) == 10


def test_evaluate_unknown_label_is_an_error(digits_run, digits, tmp_path):
    import shutil

    shutil.copytree(digits / "test" / "3", tmp_path / "three")
    shutil.copytree(digits / "test" / "4", tmp_path / "4")
    r = run_cli("evaluate", digits_run, tmp_path)
    assert r.returncode == 2
    assert "label 'three'" in r.stderr and "Traceback" not in r.stderr


def test_predict_json_top_k(digits_run, digits):
    files = sorted((digits / "test" / "3").glob("*.png"))[:2]
    r = run_cli("predict", digits_run, *files, "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    preds = json.loads(r.stdout)["predictions"]
    assert [p["input"] for p in preds] == [str(f) for f in files]
    assert all(len(p["top_k"]) == 3 and p["top_k"][0]["label"] == p["label"] for p in preds)
    assert sum(p["label"] == "3" for p in preds) >= 1


def test_api_load_predict_matches_evaluate(digits_run, digits):
    import lamina

    predictor = lamina.load(digits_run)
    files = sorted((digits / "test").rglob("*.png"))
    preds = predictor.predict([str(f) for f in files])
    acc = sum(p["label"] == f.parent.name for p, f in zip(preds, files)) / len(files)
    m = lamina.evaluate(digits_run, digits, split="test")
    assert acc == pytest.approx(m["accuracy"])
    checked = lamina.validate(str(digits))  # the README's API list, importable from the package root
    assert checked["errors"] == [] and checked["files"] == len(list(digits.rglob("*.png")))
    assert lamina.export(digits_run)["parity"]["max_abs_diff"] <= 1e-4


def test_yaml_config_with_overrides_and_seed(digits, tmp_path):
    cfg = tmp_path / "my-config.yaml"
    cfg.write_text(
        f"data: {{path: {digits}}}\nmodel: {{name: mlp}}\ntrain: {{epochs: 10, lr: 0.003, batch_size: 128}}\n"
    )
    out = tmp_path / "run"
    r = run_cli("train", cfg, "--set", "train.epochs=2", "--set", "model.width=64", "--seed", "3", "--output", out)
    assert r.returncode == 0, r.stderr
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (saved["train"]["epochs"], saved["model"]["width"], saved["train"]["seed"], saved["model"]["name"]) == (
        2,
        64,
        3,
        "mlp",
    )
    assert json.loads((out / "run.json").read_text())["result"]["epochs"] == 2


def test_same_seed_same_weights(small_dataset_config, tmp_path):
    import lamina
    from safetensors.torch import load_file

    a = lamina.train(small_dataset_config, output=tmp_path / "a", seed=5)
    b = lamina.train(small_dataset_config, output=tmp_path / "b", seed=5)
    c = lamina.train(small_dataset_config, output=tmp_path / "c", seed=6)
    wa, wb, wc = (load_file(Path(r["model"]) / "model.safetensors") for r in (a, b, c))
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert any((wa[k] != wc[k]).any() for k in wa)


@pytest.fixture
def small_dataset_config(digits):
    return {
        "data": {"path": str(digits)},
        "model": {"layers": [{"conv": 8}, "relu", {"pool": 2}, {"dense": 32}]},
        "train": {"epochs": 2, "batch_size": 64},
    }
