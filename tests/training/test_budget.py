"""train.time_budget: zero-config epochs follow the machine's measured speed, and config.yaml makes the choice
reproducible."""

import json

import yaml

from helpers import run_cli


def test_a_machine_too_slow_for_the_budget_trains_fewer_auto_epochs_and_records_them(digits, tmp_path):
    # digits: epochs auto = 30; a budget far below 30 epochs' worth stands for a slow machine
    r = run_cli("train", digits, "--output", tmp_path / "slow", "--json", "--set", "train.time_budget=0.05")
    assert r.returncode == 0, r.stderr
    recorded = yaml.safe_load((tmp_path / "slow" / "config.yaml").read_text())["train"]
    assert recorded["epochs"] == 1 and recorded["time_budget"] == 0.05
    assert json.loads(r.stdout)["epochs"] == 1
    assert "epochs: 1 instead of 30" in r.stderr and "train.time_budget is 0.05 s" in r.stderr
    probe = json.loads((tmp_path / "slow" / "run.json").read_text())["epoch_budget"]
    assert probe["auto_epochs"] == 30 and probe["epochs"] == 1 and probe["epoch_seconds"] > 0
    # a rerun from the recorded config trains the recorded epochs, on any machine: nothing is measured
    again = run_cli("train", tmp_path / "slow" / "config.yaml", "--output", tmp_path / "again", "--json")
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())["train"]["epochs"] == 1
    assert "instead of" not in again.stderr


def test_within_the_budget_the_auto_epochs_stay_and_the_probe_leaves_the_run_unchanged(digits, tmp_path):
    """The probe's throwaway steps draw nothing from the real run's generators: the same weights as without it."""
    from safetensors.numpy import load_file

    probed = run_cli(
        "train",
        digits,
        "--output",
        tmp_path / "probed",
        "--set",
        "train.epochs=auto",
        "--set",
        "train.time_budget=1000",
        "--set",
        "model.name=mlp",
        "--deterministic",
    )
    plain = run_cli(
        "train",
        digits,
        "--output",
        tmp_path / "plain",
        "--set",
        "train.epochs=30",
        "--set",
        "model.name=mlp",
        "--deterministic",
    )
    assert probed.returncode == 0 and plain.returncode == 0, probed.stderr + plain.stderr
    assert yaml.safe_load((tmp_path / "probed" / "config.yaml").read_text())["train"]["epochs"] == 30
    a, b = (load_file(str(tmp_path / run / "model" / "model.safetensors")) for run in ("probed", "plain"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
