"""A training run's data and config, prepared: the image model chosen from the headers, the data read, checked and
split, and the config with everything it implies written in (modality values, model, epochs, sizes, lr, and the
epochs the speed probe chose). The first named step of a session (lamina.training.session)."""

from __future__ import annotations

from pathlib import Path

from lamina.common.config import Config
from lamina.common.listing import PROBLEMS_FILE, printed_lines, problem, use_line, write_full
from lamina.common.progress import Reporter
from lamina.data.dataset import PreparedData, prepare_training_data
from lamina.data.image_facts import scan_images
from lamina.data.modality import table_modality
from lamina.data.layout import Layout
from lamina.data.tokenizer import TOKENIZER_FILE, save_tokenizer
from lamina.models.registry import missing_pretrained, registered, resolve, uses_pretrained_tokenizer
from lamina.training.budget import epochs_within_budget
from lamina.training.budget import resolve_train
from lamina.training.run import RunDir


def data_problems(data: PreparedData) -> list[dict]:
    """Everything a run's data was found to have: the files or rows skipped, then the checks' warnings."""
    skipped = [f"{s['path']}: {s['reason']}" for s in data.skipped]
    told = [problem("warning", "skipped", f"skipped {len(skipped)} bad file(s) or row(s)", skipped)] if skipped else []
    return told + data.checks


def tell_data(data: PreparedData, run: RunDir, resuming: bool, report: Reporter) -> None:
    """Say which columns of a table the model reads, and each problem of the data in a few lines; the full lists
    go to the run's problems.jsonl."""
    use = data.column_use()
    if use:
        report.say(use_line(use))
    problems = data_problems(data)
    full = run.path / PROBLEMS_FILE
    if not resuming:
        write_full(full, problems)
    for p in problems:
        for line in printed_lines(p, where=f"all in {full}"):
            report.say(line)


def choose_image_model(cfg: Config, warn=None) -> tuple[Config, Layout | None]:
    """Image data and model ``auto`` (or a pretrained image model): the model decided from the images' headers
    (photo-like images get the pretrained backbone), and the input that model was trained on written into
    ``data`` (size, channels, fit). Returns the config and the scanned layout (None when nothing was scanned).
    ``warn(message)`` hears when photos are trained from scratch because the backbone is not installed."""
    spec = registered().get(cfg.model.name)
    if cfg.model.name != "auto" and (spec is None or "size" not in spec.inputs):
        return cfg, None
    scanned = scan_images(cfg.data)
    if scanned is None:
        return cfg, None
    layout, facts = scanned
    missing = missing_pretrained(cfg.model, "image", facts.photo_like)
    if missing and warn is not None:
        warn(missing)
    model_cfg = resolve(cfg.model, "image", photo=facts.photo_like)
    wanted = registered()[model_cfg.name].inputs
    data_cfg = cfg.data
    if "size" in wanted:
        data_cfg = data_cfg.model_copy(
            update={
                "image_size": data_cfg.image_size or wanted["size"],
                "channels": wanted["channels"],
                "image_fit": data_cfg.image_fit or wanted["fit"],
            }
        )
        if not model_cfg.freeze:  # fine-tuning: the model's augmentation for whatever the user left unset
            unset = {k: v for k, v in wanted["augment"].items() if k not in data_cfg.augment.model_fields_set}
            data_cfg = data_cfg.model_copy(update={"augment": data_cfg.augment.model_copy(update=unset)})
    return cfg.model_copy(update={"model": model_cfg, "data": data_cfg}), layout


def fill_inferred(cfg: Config, data: PreparedData) -> Config:
    """The config with every inferred value written in (modality, size, channels, model defaults, epochs, batch sizes, lr)."""
    inferred = data.prep.config_values(data.columns)
    data_cfg = cfg.data.model_copy(update={"modality": data.modality, "task": data.task.kind, **inferred})
    model_cfg = resolve(cfg.model, data.modality)
    train_cfg = resolve_train(cfg.train, model_cfg.name, len(data.splits["train"]), data.task.kind)
    return cfg.model_copy(update={"data": data_cfg, "model": model_cfg, "train": train_cfg})


def tokenizer_file(cfg: Config, run_path: Path, resuming: bool) -> str | None:
    """The tokenizer to reuse (the run's own when resuming, a pretrained model's), or None to train one (or, for data
    that is not a table, to need none)."""
    if resuming and (run_path / TOKENIZER_FILE).is_file():
        return str(run_path / TOKENIZER_FILE)
    table = table_modality(cfg.data)  # tokenizers are trained on tables' texts
    if table is None:
        return None
    return uses_pretrained_tokenizer(resolve(cfg.model, table.name))


def prepare_run(cfg: Config, run: RunDir, resuming: bool, report: Reporter) -> tuple[Config, PreparedData]:
    """The data read, checked and split, and the config with what it implies written in (model, epochs, sizes)."""
    requested, requested_epochs = cfg.model, cfg.train.epochs
    cfg, layout = choose_image_model(cfg, report.warn)
    data = prepare_training_data(cfg.data, cfg.train.seed, tokenizer_file(cfg, run.path, resuming), layout)
    if data.tokenizer is not None and not resuming:
        save_tokenizer(data.tokenizer, run.path)  # a resumed run (and every torchrun rank) reuses this very file
    cfg = fill_inferred(cfg, data)
    tell_data(data, run, resuming, report)
    # images: told in choose_image_model
    missing = missing_pretrained(requested, data.modality) if layout is None else None
    if missing:
        report.warn(missing)
    cfg, timing = epochs_within_budget(cfg, data, requested_epochs)
    if timing is not None:
        run.set_status("running", epoch_budget=timing)  # what the probe measured, in run.json
    if timing is not None and timing["epochs"] < timing["auto_epochs"]:
        report.say(
            f"epochs: {timing['epochs']} instead of {timing['auto_epochs']}: an epoch takes ~{timing['epoch_seconds']:.1f} s "
            f"on this machine and train.time_budget is {timing['time_budget']:g} s (config.yaml records the "
            f"{timing['epochs']}; set train.epochs to choose)"
        )
    return cfg, data
