"""Hyperparameter search with Optuna (``pip install 'lamina[tune]'``, imported lazily).

The search space sits in the config YAML next to the stages::

    search:
      train.lr: {loguniform: [1.0e-4, 1.0e-2]}
      model.width: {choice: [32, 64]}
      train.weight_decay: {uniform: [0.0, 0.1]}
      train.batch_size: {int: [32, 256]}

Each trial is a normal run directory (OUTPUT/trial-NNNN) trained by the same session as
``lamina train``; it reports its validation metric after every epoch so Optuna's pruner
(median by default) can stop it early. Any number of ``lamina tune`` processes given the
same ``--storage`` and ``--study`` work on one study until it holds ``--trials`` finished
trials; each writes the best config so far to OUTPUT/best.yaml.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import yaml

from lamina.common.config import CONFIG_KEYS, load_config, read_yaml, suggest_key
from lamina.common.dotted import set_dotted
from lamina.common.errors import ConfigError, LaminaError
from lamina.common.files import atomic_write_text

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")


def read_search_config(path: str | Path) -> tuple[dict, dict]:
    """(config without 'search', search space) from a YAML file; both validated."""
    raw = read_yaml(path)
    space = raw.pop("search", None)
    if not isinstance(space, dict) or not space:
        raise ConfigError(
            f"{path}: 'search' is missing or empty; e.g. search: {{train.lr: {{loguniform: [1.0e-4, 1.0e-2]}}}}"
        )
    for key, spec in space.items():
        where = f"{path}: search.{key}"
        if key not in CONFIG_KEYS or "." not in key or key in ("data.augment",):
            raise ConfigError(
                f"{path}: search: '{key}' is not a single setting{suggest_key(key)}; use a dotted key like train.lr"
            )
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ConfigError(
                f"{where}: expected one of {', '.join(DISTRIBUTIONS)}, e.g. {{loguniform: [1.0e-4, 1.0e-2]}}; got {spec!r}"
            )
        kind, args = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(args, list) or not args:
                raise ConfigError(f"{where}: choice needs a non-empty list; got {args!r}")
        elif not (
            isinstance(args, list)
            and len(args) == 2
            and all(isinstance(a, (int, float)) for a in args)
            and args[0] < args[1]
        ):
            raise ConfigError(f"{where}: {kind} needs [low, high] with low < high; got {args!r}")
        elif kind == "loguniform" and args[0] <= 0:
            raise ConfigError(f"{where}: loguniform needs low > 0; got {args!r}")
    load_config(copy.deepcopy(raw))  # the base config must be valid on its own
    return raw, space


def suggest(trial, space: dict) -> dict:
    """One value per search key, drawn by the trial."""
    values = {}
    for key, spec in space.items():
        kind, args = next(iter(spec.items()))
        if kind == "loguniform":
            values[key] = trial.suggest_float(key, float(args[0]), float(args[1]), log=True)
        elif kind == "uniform":
            values[key] = trial.suggest_float(key, float(args[0]), float(args[1]))
        elif kind == "int":
            values[key] = trial.suggest_int(key, int(args[0]), int(args[1]))
        else:
            values[key] = trial.suggest_categorical(key, args)
    return values


def with_values(base: dict, values: dict) -> dict:
    """``base`` with each dotted key set to its value."""
    cfg = copy.deepcopy(base)
    for key, value in values.items():
        set_dotted(cfg, key, value)
    return cfg


def watched(metrics: dict, monitor: str) -> float:
    """The monitored figure of a val metrics dict; 'auto' is the task's own (accuracy, micro_f1 or r2: whichever is there)."""
    if monitor == "auto":
        monitor = next(k for k in ("accuracy", "micro_f1", "r2") if k in metrics)
    return metrics[monitor]


def run_tune(
    config_path: str | Path,
    trials: int,
    storage: str | None,
    study_name: str | None,
    output: str | Path,
    pruner: str = "median",
    quiet: bool = True,
) -> dict:
    """Run trials until the study holds ``trials`` finished ones; see the module docstring.

    Returns {"study", "storage", "best_trial", "best_value", "best_params", "best_config", "trials": {state: count}}.
    """
    try:
        import optuna
    except ImportError:
        raise LaminaError("lamina tune needs Optuna: pip install 'lamina[tune]'") from None
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    if trials < 1:
        raise LaminaError("--trials must be >= 1")
    base, space = read_search_config(config_path)
    monitor = load_config(copy.deepcopy(base)).train.monitor
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    name = study_name or Path(config_path).stem
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(name, storage, "minimize" if monitor == "loss" else "maximize", pruner)

    objective = _objective(base, space, monitor, output, quiet)
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    study.optimize(objective, n_trials=trials, callbacks=[MaxTrialsCallback(trials, states=done)], catch=(LaminaError,))
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    completed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not completed:
        raise LaminaError(f"study {name}: no trial completed ({counts}); see the trial run directories in {output}")
    best = study.best_trial
    best_path = output / "best.yaml"
    atomic_write_text(best_path, yaml.safe_dump(with_values(base, best.params), sort_keys=False))
    return {
        "study": name,
        "storage": storage,
        "best_trial": best.number,
        "best_value": best.value,
        "best_params": best.params,
        "best_run": best.user_attrs.get("run"),
        "best_config": str(best_path),
        "trials": counts,
    }


def _open_study(name: str, storage: str | None, direction: str, pruner: str):
    """The Optuna study ``name`` in ``storage``, created when missing."""
    import optuna

    for attempt in range(5):
        try:
            return optuna.create_study(
                study_name=name,
                storage=storage,
                load_if_exists=True,
                direction=direction,
                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
                if pruner == "median"
                else optuna.pruners.NopPruner(),
            )
        except Exception as e:  # two processes creating the same new storage race on its schema: the loser retries
            if attempt == 4:
                raise LaminaError(
                    f"--storage {storage}: cannot open the study ({str(e).splitlines()[0][:200]})"
                ) from None
            time.sleep(0.2 + 0.3 * attempt)


def _objective(base: dict, space: dict, monitor: str, output: Path, quiet: bool):
    """Optuna's objective: one training run per trial, its val figure the value; pruned between epochs."""
    import optuna

    from lamina.training.session import run_training

    def objective(trial) -> float:
        values = suggest(trial, space)
        cfg = load_config(with_values(base, values))

        pruned: list[int] = []

        def report(epoch: int, m: dict) -> bool:
            trial.report(watched(m, monitor), epoch)
            if trial.should_prune():
                pruned.append(epoch)
            return bool(pruned)

        run_dir = output / f"trial-{trial.number:04d}"
        trial.set_user_attr("run", str(run_dir))
        trial.set_user_attr("pid", os.getpid())  # which process ran it: processes share one study
        summary = run_training(cfg, run_dir, overwrite=True, quiet=quiet, resume=False, on_epoch=report)
        if pruned:
            raise optuna.TrialPruned(f"pruned after epoch {pruned[0] + 1}")
        return watched(summary["metrics"]["val"], monitor)

    return objective
