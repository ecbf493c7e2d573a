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
from lamina.data.prepared import SplitData
from lamina.data.task import Task
from lamina.training.charts import line_chart
from lamina.training.figures import FIGURES


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
    shown = FIGURES[task.kind].mistakes(task, scores, y, limit)
    return [Mistake(keys[i], *what, preview(i)) for i, what in shown]


def task_sections(
    task, split: str, evaluation: dict, scores: np.ndarray | None, y: np.ndarray | None
) -> tuple[str, str]:
    """(the summary line, the task's sections) of the report: confusion matrix and per-class table; per-label
    table and precision-recall curves; predicted-against-true and residual plots."""
    return FIGURES[task.kind].sections(task, html.escape(split), evaluation, scores, y)


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
.mistake img{image-rendering:pixelated;display:block;margin-bottom:4px;max-width:100%}
.mistake p.tokens{margin:0 0 4px;font-size:12px}.mistake:has(blockquote),.mistake:has(audio){width:260px;word-break:normal}.mistake audio{width:250px;display:block}.mistake blockquote.text{margin:0 0 4px;font-size:12px;white-space:pre-wrap;max-width:260px}pre{background:#f6f6f6;padding:10px;overflow:auto}
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
            the training data's problems, "review": the labels to check (train.review_folds) or None}, shown
            bounded in the Data section.
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
    heading = FIGURES[task.kind].mistakes_heading
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
        read = ", ".join(f"<code>{e(c)}</code> ({e(kind)})" for c, kind in use["read"].items())
        out += f"<p>columns read: {read}, <code>{e(use['label'])}</code> (label); ignored: {ignored}</p>"
    ranked = notes.get("importance") or []
    if ranked:
        rows = "".join(
            f"<tr><td>{e(f['column'])}</td><td>{f['importance']:+.4f}</td><td>{f['spread']:.4f}</td></tr>"
            for f in ranked
        )
        out += (
            "<h3>Column importance (val)</h3><p>the drop of the monitored figure when the column's values are "
            f"shuffled across rows (mean of 3 shuffles, and their range)</p><table><tr><th>column</th><th>drop</th>"
            f"<th>range</th></tr>{rows}</table>"
        )
    out += review_section(notes.get("review"))
    for p in notes.get("problems", []):
        p = bounded(p, PRINTED)
        items = "".join(f"<li><code>{e(x)}</code></li>" for x in p.get("paths", []))
        more = p.get("count", 0) - len(p.get("paths", []))
        items += f"<li>... and {more:,} more ({PROBLEMS_FILE})</li>" if more > 0 else ""
        out += f'<p class="problem"><b>{e(p["level"])}</b>: {e(p["message"])}</p>' + (
            f"<ul>{items}</ul>" if items else ""
        )
    return out


def review_section(review: dict | None) -> str:
    """The labels to check (train.review_folds: lamina.training.review.report_review), or nothing."""
    e = html.escape
    if not review:
        return ""
    if "note" in review:
        return f"<h3>Labels to check</h3><p>{e(review['note'])}</p>"
    rows = "".join(
        f"<tr><td>{e(r['input'])}</td><td>{e(r['label'])}</td><td>{e(r['suggested'])}</td>"
        f"<td>{float(r['confidence']):.2f}</td><td>{float(r['label_score']):.2f}</td></tr>"
        for r in review["suspects"]
    )
    table = (
        "<table><tr><th>input</th><th>label</th><th>suggested</th><th>its probability</th><th>the label's</th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    return (
        f"<h3>Labels to check</h3><p>{review['flagged']:,} of {review['samples']:,} samples (all splits) flagged by "
        f"confident learning on {review['folds']}-fold out-of-fold probabilities"
        + (
            f" with the labels of each sample's nearest neighbours in the frozen embedding blended in (weight "
            f"{review['neighbour_weight']:.2f})"
            if review.get("neighbour_weight")
            else ""
        )
        + (f"; the most suspect {len(review['suspects'])} below" if rows else "")
        + ', every sample ranked in <code>review.csv</code>, pictured in <a href="review.html">review.html</a></p>'
        + table
    )


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
    maps=None,
) -> Path:
    """report.html for ``split``'s figures: curves from ``rows``, the worst mistakes with a preview of each input
    (``prep``, the modality object, shows a sample) and its map (``maps(i)``: HTML, lamina.training.mistake_maps),
    the columns read and the data's problems (``data_notes``)."""
    shown = (lambda i: prep.preview(split, i) + maps(i)) if maps is not None else (lambda i: prep.preview(split, i))
    mistakes = worst_mistakes(task, probs, split.y.numpy(), split.keys, shown)
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
