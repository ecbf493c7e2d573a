"""lamina tune: Optuna search, two processes cooperating on one study (SQLite, PostgreSQL)."""

import json
import subprocess
import sys

import pytest
import yaml

from helpers import make_image_folders
from lamina.common.config import load_config
from lamina.common.errors import ConfigError
from lamina.training.tune import read_search_config, with_values


def _config(tmp_path, data, search) -> str:
    path = tmp_path / "search.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {"path": str(data)},
                "model": {"name": "mlp"},
                "train": {"epochs": 3, "early_stopping": 0},
                "search": search,
            }
        )
    )
    return str(path)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_share_one_study(tmp_path, backend, request):
    """Two `lamina tune` processes fill one study: in a SQLite file, and on a real PostgreSQL server (for teams)."""
    import optuna

    data = make_image_folders(tmp_path / "d", classes=("a", "b", "c"), per_class=12)
    cfg = _config(tmp_path, data, {"train.lr": {"loguniform": [1e-4, 1e-1]}, "model.width": {"choice": [16, 64]}})
    if backend == "sqlite":
        storage = f"sqlite:///{tmp_path / 'study.db'}"
    else:
        storage = request.getfixturevalue("postgres").url(f"tune_{tmp_path.name.lower().replace('-', '_')}")
    cmd = [
        sys.executable,
        "-m",
        "lamina",
        "tune",
        cfg,
        "--trials",
        "6",
        "--storage",
        storage,
        "--study",
        "s",
        "--output",
        str(tmp_path / "out"),
        "--json",
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    study = optuna.load_study(study_name="s", storage=storage)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) >= 6 and len({t.number for t in study.trials}) == len(study.trials)
    assert len({t.user_attrs["pid"] for t in finished}) == 2  # both processes ran trials of the same study
    for t in finished:  # each trial is a normal run directory
        assert (
            json.loads((tmp_path / "out" / f"trial-{t.number:04d}" / "run.json").read_text())["status"] == "completed"
        )
    last = json.loads(outs[0][0])
    best = yaml.safe_load((tmp_path / "out" / "best.yaml").read_text())
    assert "search" not in best
    assert load_config(best).train.lr == pytest.approx(study.best_trial.params["train.lr"])
    assert last["best_trial"] in {t.number for t in finished}


def test_search_space_errors_name_the_key(tmp_path):
    with pytest.raises(
        ConfigError, match=r"search: 'train.learning_rate' is not a single setting \(did you mean 'train.lr'\?\)"
    ):
        read_search_config(_config(tmp_path, tmp_path, {"train.learning_rate": {"loguniform": [1e-4, 1e-2]}}))
    with pytest.raises(ConfigError, match="search: 'train' is not a single setting"):
        read_search_config(_config(tmp_path, tmp_path, {"train": {"choice": [1, 2]}}))
    with pytest.raises(ConfigError, match="search.train.lr: loguniform needs low > 0"):
        read_search_config(_config(tmp_path, tmp_path, {"train.lr": {"loguniform": [0, 1e-2]}}))
    with pytest.raises(ConfigError, match="search.model.width: expected one of loguniform, uniform, int, choice"):
        read_search_config(_config(tmp_path, tmp_path, {"model.width": {"pick": [1, 2]}}))


def test_with_values_sets_dotted_keys():
    assert with_values({"train": {"epochs": 3}}, {"train.lr": 0.1, "model.width": 8}) == {
        "train": {"epochs": 3, "lr": 0.1},
        "model": {"width": 8},
    }
