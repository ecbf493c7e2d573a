"""Tables of texts -> prepared splits: the text modality's data path (lamina.data.text_data holds its
preprocessing, lamina.data.text its table reader)."""

from __future__ import annotations

from pathlib import Path

import torch

from lamina.common.config import DataConfig
from lamina.common.errors import DataError
from lamina.common.listing import names, problem
from lamina.data.checks import check_samples
from lamina.data.prepared import PreparedData, SplitData
from lamina.data.split import select_split
from lamina.data.targets import balance_labels, check_known, integer_targets, make_task, split_samples
from lamina.data.task import Task
from lamina.data.text_data import (
    TextPreprocess,
    infer_max_tokens,
    read_table_samples,
    text_fingerprint,
    text_tokenizer,
    tokenize,
)
from lamina.data.tokenizer import lengths as token_counts


def prepare_texts(cfg: DataConfig, seed: int, tokenizer_file) -> PreparedData:
    """The training data of a table of texts: read, split, tokenizer (trained on the train split unless
    ``tokenizer_file`` names one), token ids, checks.

    Raises:
        DataError: not a table file, a bad table, a single class, or (without skip_bad) a bad row.
    """
    if not Path(cfg.path).is_file():
        raise DataError(f"{cfg.path}: data.modality is text, which needs a table file (.csv, .tsv, .jsonl, .parquet).")
    table = read_table_samples(cfg.path, cfg.text_column, cfg.label_column, cfg.skip_bad, task=cfg.task)
    assignment = split_samples(cfg, table.samples, table.task, seed)
    train_keys = [s.key for s in table.samples if assignment[s.key] == "train"]
    task = make_task(table.task, cfg.path, table.samples, assignment, table.columns[1])
    tok = text_tokenizer([table.texts[k] for k in train_keys], cfg.vocab_size, tokenizer_file)
    max_tokens = cfg.max_tokens
    if max_tokens is None:
        max_tokens = infer_max_tokens(token_counts(tok, [table.texts[k] for k in train_keys]))
    prep = TextPreprocess(max_tokens, tok.get_vocab_size())
    digest, hashes = text_fingerprint(table.samples, table.texts, assignment)
    hash_of = {s.key: h for s, h in zip(table.samples, hashes)}
    splits = {}
    for name in sorted({assignment[s.key] for s in table.samples}):
        chosen = [s for s in table.samples if assignment[s.key] == name]
        texts = [table.texts[s.key] for s in chosen]
        splits[name] = SplitData(
            torch.from_numpy(tokenize(tok, texts, max_tokens)),
            torch.from_numpy(task.targets([s.label for s in chosen])),
            [s.key for s in chosen],
            prep.name,
            texts,
            [hash_of[s.key] for s in chosen],  # a frozen encoder's features are cached by them
        )
    keys = [s.key for s in table.samples]
    checks = check_samples(
        keys,
        balance_labels(task, table.samples),
        [assignment[k] for k in keys],
        hashes,
        prep.near_duplicate_view(None),
        prep.content_noun,
    )
    checks += integer_targets(task, cfg.task, [s for s in table.samples if assignment[s.key] == "train"])
    checks += ignored_columns_warning(table.columns, table.ignored)
    return PreparedData(
        prep.name,
        str(cfg.path),
        table.kind,
        task.labels,
        prep,
        splits,
        [],
        [],
        digest,
        {name: d.keys for name, d in splits.items()},
        table.skipped,
        checks,
        tok,
        table.columns,
        table.ignored,
        task=task,
        use={"read": {table.columns[0]: "text"}, "label": table.columns[1], "ignored": list(table.ignored)},
    )


def eval_texts(prep, path, task: Task, split: str | None, recorded, skip_bad: bool, tokenizer, columns):
    """(SplitData, skipped) of a table of texts for evaluation, tokenized as the model was trained."""
    table = read_table_samples(path, columns[0], columns[1], skip_bad, min_labels=1, task=task.kind)
    samples = select_split(table.samples, table.has_splits, path, split, recorded)
    check_known(samples, task, path)
    texts = [table.texts[s.key] for s in samples]
    ids = torch.from_numpy(tokenize(tokenizer, texts, prep.max_tokens))
    return SplitData(
        ids, torch.from_numpy(task.targets([s.label for s in samples])), [s.key for s in samples], prep.name, texts
    ), list(table.skipped)


def ignored_columns_warning(used: tuple[str, str], ignored: list[str]) -> list[dict]:
    """A warning naming the columns of a table that the model does not read (none: no warning)."""
    if not ignored:
        return []
    message = (
        f"the model reads column '{used[0]}' (text) and '{used[1]}' (label) and ignores {len(ignored)} other "
        f"column(s): {names(ignored)}. A text model reads one text column per table (to read another column as the "
        "text, set data.text_column; data.modality=table reads the numbers and categories instead)"
    )
    return [problem("warning", "ignored-columns", message)]
