"""report.html: one self-contained page per run (no network, no script needed to read it).

Training and validation curves and the task's plots (confusion matrix; precision-recall
curves; predicted against true values and residuals) are inline SVG (lamina.training.charts); the per-class
or per-label table, the worst mistakes (shown as the data is: thumbnails, players, texts), the
config and the data fingerprint follow. Written at the end of training and by
``lamina evaluate --report``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.common.files import atomic_write_text
from lamina.common.listing import PRINTED, PROBLEMS_FILE, bounded
from lamina.data.dataset import SplitData
from lamina.data.task import Task
from lamina.training.charts import confusion_svg, line_chart, pr_curves, scatter_svg


@dataclass
class Mistake:
    key: str  # the sample's path relative to the data root
    true: str
    predicted: str
    confidence: float | None  # the model's probability for ``predicted`` (None: a regression's value)
    preview: str  # HTML that shows the sample (an <img> with a data: URI for images)


def worst_mistakes(task, scores: np.ndarray, y: np.ndarray, keys: list[str], preview, limit: int = 24) -> list[Mistake]:
    """The predictions furthest from the truth: wrong labels the model was most sure of; multi-label sets with the
    largest summed score error; regression values with the largest absolute error.

    Args:
        task: lamina.data.task.Task; scores: (N, outputs) activated outputs; y: the task's targets; preview(i) -> HTML.
    """
    return [Mistake(keys[i], *shown, preview(i)) for i, shown in MISTAKES[task.kind](task, scores, y, limit)]


def _wrong_labels(task, scores: np.ndarray, y: np.ndarray, limit: int) -> list[tuple]:
    pred = scores.argmax(1)
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-scores[wrong, pred[wrong]], kind="stable")][:limit]
    return [(i, (task.labels[y[i]], task.labels[pred[i]], float(scores[i, pred[i]]))) for i in order]


def _wrong_label_sets(task, scores: np.ndarray, y: np.ndarray, limit: int) -> list[tuple]:
    pred = scores >= np.asarray(task.cutoffs)[None, :]
    wrong = np.flatnonzero((pred != (y > 0.5)).any(1))
    order = wrong[np.argsort(-np.abs(scores[wrong] - y[wrong]).sum(1), kind="stable")][:limit]
    names = lambda row: "; ".join(task.labels[k] for k in np.flatnonzero(row)) or "(none)"  # noqa: E731
    return [(i, (names(y[i] > 0.5), names(pred[i]), None)) for i in order]


def _largest_errors(task, scores: np.ndarray, y: np.ndarray, limit: int) -> list[tuple]:
    order = np.argsort(-np.abs(scores[:, 0] - y), kind="stable")[:limit]
    return [(i, (f"{y[i]:.4g}", f"{scores[i, 0]:.4g}", None)) for i in order]


# per task kind
MISTAKES = {
    "classification": _wrong_labels,
    "multilabel": _wrong_label_sets,
    "regression": _largest_errors,
}
MISTAKES_HEADING = {"regression": "Largest errors"}  # otherwise "Most confident mistakes"


def task_sections(
    task, split: str, evaluation: dict, scores: np.ndarray | None, y: np.ndarray | None
) -> tuple[str, str]:
    """(the summary line, the task's sections) of the report: confusion matrix and per-class table; per-label
    table and precision-recall curves; predicted-against-true and residual plots."""
    return SECTIONS[task.kind](task, html.escape(split), evaluation, scores, y)


def _regression_sections(task, split: str, evaluation: dict, scores, y) -> tuple[str, str]:
    summary = (
        f"<span><b>{split}</b> MAE {evaluation['mae']:.4g}</span><span>RMSE {evaluation['rmse']:.4g}</span>"
        f"<span>R2 {evaluation['r2']:.4f}</span><span>n = {evaluation['n']}</span>"
    )
    plots = ""
    if scores is not None and y is not None:
        plots = scatter_svg(
            y, scores[:, 0], "predicted against true", "true", "predicted", diagonal=True
        ) + scatter_svg(scores[:, 0], scores[:, 0] - y, "residuals", "predicted", "predicted - true")
    return summary, f'<h2>Predictions ({split})</h2><div class="charts">{plots}</div>'


def _multilabel_sections(task, split: str, evaluation: dict, scores, y) -> tuple[str, str]:
    e = html.escape
    summary = (
        f"<span><b>{split}</b> micro-F1 {evaluation['micro_f1']:.4f}</span><span>macro-F1 {evaluation['macro_f1']:.4f}</span>"
        f"<span>mAP {evaluation['mean_average_precision']:.4f}</span><span>subset accuracy {evaluation['subset_accuracy']:.4f}</span>"
        f"<span>n = {evaluation['n']}</span>"
    )
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td>"
        f"<td>{'-' if m['ap'] is None else format(m['ap'], '.3f')}</td><td>{m['support']}</td><td>{m['threshold']:.2f}</td></tr>"
        for name, m in evaluation["per_label"].items()
    )
    chart = line_chart(pr_curves(scores, y, task.labels), "precision-recall", "recall") if scores is not None else ""
    return summary, (
        f'<h2>Precision-recall ({split})</h2><div class="charts">{chart}</div>'
        f"<h2>Per label ({split})</h2><table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>AP</th><th>support</th><th>threshold</th></tr>{rows}</table>"
    )


def _classification_sections(task, split: str, evaluation: dict, scores, y) -> tuple[str, str]:
    e = html.escape
    summary = (
        f"<span><b>{split}</b> accuracy {evaluation['accuracy']:.4f}</span><span>macro-F1 {evaluation['macro_f1']:.4f}</span>"
        f"<span>n = {evaluation['n']}</span>"
    )
    per_class = "".join(
        f"<tr><td>{e(name)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for name, m in evaluation["per_class"].items()
    )
    return summary, (
        f"<h2>Confusion matrix ({split})</h2>{confusion_svg(evaluation['confusion_matrix'], evaluation['labels'])}"
        f"<h2>Per class ({split})</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>support</th></tr>{per_class}</table>"
    )


SECTIONS = {
    "classification": _classification_sections,
    "multilabel": _multilabel_sections,
    "regression": _regression_sections,
}


def curves(rows: list[dict]) -> tuple[dict, dict]:
    """(loss series, accuracy series) by epoch from metrics.jsonl rows: train from each epoch's last line, val per epoch."""
    train_last: dict[int, dict] = {}
    val: dict[int, dict] = {}
    for r in rows:
        if r.get("final") or r.get("epoch") is None:
            continue
        if r.get("split") == "train":
            train_last[r["epoch"]] = r
        elif r.get("split") == "val":
            val[r["epoch"]] = r
    loss = {
        "train loss": [(e + 1, r["loss"]) for e, r in sorted(train_last.items())],
        "val loss": [(e + 1, r["loss"]) for e, r in sorted(val.items())],
    }
    metric = next(
        (m for m in ("accuracy", "subset_accuracy", "micro_f1", "r2") if any(m in r for r in val.values())), "accuracy"
    )
    acc = {
        f"train {metric}": [(e + 1, r[metric]) for e, r in sorted(train_last.items()) if metric in r],
        f"val {metric}": [(e + 1, r[metric]) for e, r in sorted(val.items()) if metric in r],
    }
    return {k: v for k, v in loss.items() if v}, {k: v for k, v in acc.items() if v}


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
svg text{font-size:11px;fill:#333}svg .title{font-size:13px;font-weight:600}.axis{stroke:#555}.grid{stroke:#eee}
.charts{display:flex;flex-wrap:wrap;gap:16px}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}.mistakes{display:flex;flex-wrap:wrap;gap:10px}
.mistake{border:1px solid #ddd;border-radius:4px;padding:6px;width:150px;font-size:12px;word-break:break-all}
.mistake img{image-rendering:pixelated;display:block;margin-bottom:4px}.mistake:has(blockquote),.mistake:has(audio){width:260px;word-break:normal}.mistake audio{width:250px;display:block}.mistake blockquote.text{margin:0 0 4px;font-size:12px;white-space:pre-wrap;max-width:260px}pre{background:#f6f6f6;padding:10px;overflow:auto}
.summary span{margin-right:18px}
"""


def render(
    *,
    title: str,
    split: str,
    evaluation: dict,
    rows: list[dict],
    mistakes: list[Mistake],
    config_yaml: str,
    fingerprint: str,
    extra: dict | None = None,
    task=None,
    scores: np.ndarray | None = None,
    y: np.ndarray | None = None,
    data_notes: dict | None = None,
) -> str:
    """The report as one HTML string.

    Args:
        evaluation: the task's figures of the reported split (lamina.training.evaluation.evaluate_scores).
        rows: metrics.jsonl rows (empty for a model evaluated outside its run).
        task, scores, y: the task (default: classification over evaluation["labels"]) and the split's scores and
            targets, for the precision-recall and residual plots.
        data_notes: {"columns": what the model reads of a table (PreparedData.column_use) or None, "problems":
            the training data's problems}, shown bounded in the Data section.
    """
    e = html.escape
    task = task or Task("classification", evaluation.get("labels", []))
    loss, acc = curves(rows)
    summary, sections = task_sections(task, split, evaluation, scores, y)
    cards = (
        "".join(
            f'<div class="mistake">{m.preview}<b>{e(m.predicted)}</b>'
            + (f" ({m.confidence:.0%})" if m.confidence is not None else "")
            + f"<br>true: {e(m.true)}<br><small>{e(m.key)}</small></div>"
            for m in mistakes
        )
        or "<p>No mistakes on this split.</p>"
    )
    facts = "".join(f"<span><b>{e(k)}</b> {e(str(v))}</span>" for k, v in (extra or {}).items())
    metric = next(iter(acc), "accuracy").split(" ", 1)[-1]
    charts = (
        f'<div class="charts">{line_chart(loss, "loss", "epoch")}{line_chart(acc, metric, "epoch")}</div>'
        if rows
        else "<p>No training curves: this model was evaluated outside its run.</p>"
    )
    heading = MISTAKES_HEADING.get(task.kind, "Most confident mistakes")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{STYLE}</style></head><body>
<h1>{e(title)}</h1>
<p class="summary">{summary}{facts}</p>
<h2>Training curves</h2>{charts}
{sections}
<h2>{heading} ({len(mistakes)})</h2><div class="mistakes">{cards}</div>
<h2>Data</h2><p>fingerprint <code>{e(fingerprint)}</code></p>{data_section(data_notes or {})}
<h2>Config</h2><pre>{e(config_yaml)}</pre>
</body></html>
"""


def data_section(notes: dict) -> str:
    """The columns a table model reads and ignores, and the training data's problems, each bounded to a few items
    (the run's problems.jsonl has every one)."""
    e = html.escape
    out = ""
    use = notes.get("columns")
    if use:
        ignored = ", ".join(f"<code>{e(c)}</code>" for c in use["ignored"]) or "none"
        out += (
            f"<p>columns read: <code>{e(use['text'])}</code> (text), <code>{e(use['label'])}</code> (label); "
            f"ignored: {ignored}</p>"
        )
    for p in notes.get("problems", []):
        p = bounded(p, PRINTED)
        items = "".join(f"<li><code>{e(x)}</code></li>" for x in p.get("paths", []))
        more = p.get("count", 0) - len(p.get("paths", []))
        items += f"<li>... and {more:,} more ({PROBLEMS_FILE})</li>" if more > 0 else ""
        out += f'<p class="problem"><b>{e(p["level"])}</b>: {e(p["message"])}</p>' + (
            f"<ul>{items}</ul>" if items else ""
        )
    return out


def write(path: Path, page: str) -> Path:
    atomic_write_text(path, page)
    return path


def write_report(
    path: Path,
    title: str,
    split_name: str,
    evaluation: dict,
    split: SplitData,
    probs,
    task: Task,
    rows: list[dict],
    config_yaml: str,
    fingerprint: str,
    extra: dict,
    prep,
    data_notes: dict | None = None,
) -> Path:
    """report.html for ``split``'s figures: curves from ``rows``, the worst mistakes with a preview of each input
    (``prep``, the modality object, shows a sample), the columns read and the data's problems (``data_notes``)."""
    mistakes = worst_mistakes(task, probs, split.y.numpy(), split.keys, lambda i: prep.preview(split, i))
    page = render(
        title=title,
        split=split_name,
        evaluation=evaluation,
        rows=rows,
        mistakes=mistakes,
        config_yaml=config_yaml,
        fingerprint=fingerprint,
        extra=extra,
        task=task,
        scores=probs,
        y=split.y.numpy(),
        data_notes=data_notes,
    )
    return write(path, page)
