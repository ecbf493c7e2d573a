"""report.html: one self-contained page per run (no network, no script needed to read it).

Training and validation curves and the confusion matrix are inline SVG drawn here; the
per-class table, the worst mistakes (shown as the data is: image thumbnails), the config
and the data fingerprint follow. Written at the end of training and by
``lamina evaluate --report``.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.common.files import atomic_write_text

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


@dataclass
class Mistake:
    key: str  # the sample's path relative to the data root
    true: str
    predicted: str
    confidence: float  # the model's probability for ``predicted``
    preview: str  # HTML that shows the sample (an <img> with a data: URI for images)


def image_preview(x: np.ndarray, side: int = 64) -> str:
    """An <img> tag holding a PNG of one (C, H, W) uint8 image, scaled up to ``side`` px."""
    from PIL import Image

    arr = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))
    img = Image.fromarray(np.ascontiguousarray(arr))
    scale = max(1, side // max(img.size))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return f'<img alt="sample" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def audio_preview(x: np.ndarray, sample_rate: int) -> str:
    """An <audio> player holding one int16 clip as an inline 16-bit WAV (a 1 s clip at 16 kHz is ~43 KB as base64)."""
    import struct

    pcm = np.ascontiguousarray(x, dtype="<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
    wav = header + b"data" + struct.pack("<I", len(pcm)) + pcm
    return f'<audio controls preload="none" src="data:audio/wav;base64,{base64.b64encode(wav).decode()}"></audio>'


def text_preview(text: str, limit: int = 280) -> str:
    """The text (cut at ``limit`` characters), HTML-escaped, as a block the report can show."""
    cut = text if len(text) <= limit else text[:limit].rstrip() + " ..."
    return f'<blockquote class="text">{html.escape(cut)}</blockquote>'


def worst_mistakes(probs: np.ndarray, y: np.ndarray, keys: list[str], labels: list[str], preview, limit: int = 24) -> list[Mistake]:
    """The wrong predictions the model was most sure of.

    Args:
        probs: (N, K) class probabilities; y: (N,) true label indices; preview(i) -> HTML.
    """
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:limit]
    return [Mistake(keys[i], labels[y[i]], labels[pred[i]], float(probs[i, pred[i]]), preview(i)) for i in order]


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, width: int = 460, height: int = 260) -> str:
    """An SVG line chart: one polyline per named series of (x, y) points, with axes and a legend."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return f'<svg class="chart" width="{width}" height="{height}" role="img"><text x="20" y="30">{html.escape(title)}: no data</text></svg>'
    left, right, top, bottom = 52, width - 12, 28, height - 36
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.05 or 1.0
    sx, sy = _scale(x0, x1, left, right), _scale(y0, y1, bottom, top)
    out = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
           f'<text x="{left}" y="16" class="title">{html.escape(title)}</text>',
           f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>']
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        out.append(f'<line x1="{left}" y1="{sy(v):.1f}" x2="{right}" y2="{sy(v):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    whole = all(float(x).is_integer() for x in xs)
    ticks = sorted({round(x0 + (x1 - x0) * i / 4) for i in range(5)}) if whole else [x0 + (x1 - x0) * i / 4 for i in range(5)]
    for v in ticks:  # epochs get whole-number ticks
        out.append(f'<text x="{sx(v):.1f}" y="{bottom + 16}" text-anchor="middle">{v:.4g}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{height - 4}" text-anchor="middle">{html.escape(xlabel)}</text>')
    for n, (name, pts) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        if len(pts) == 1:
            out.append(f'<circle cx="{sx(pts[0][0]):.1f}" cy="{sy(pts[0][1]):.1f}" r="3" fill="{color}"/>')
        out.append(f'<rect x="{right - 130}" y="{top + 4 + 16 * n}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{right - 115}" y="{top + 13 + 16 * n}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def confusion_svg(matrix: list[list[int]], labels: list[str], cell: int = 34) -> str:
    """The confusion matrix as an SVG grid: rows true labels, columns predictions, shaded by row share."""
    k = len(labels)
    m = np.asarray(matrix, dtype=np.float64).reshape(k, k)
    share = m / np.maximum(1.0, m.sum(1, keepdims=True))
    pad = 8 + 7 * max((len(label) for label in labels), default=1)
    size = pad + cell * k + 10
    out = [f'<svg class="confusion" width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" aria-label="confusion matrix">']
    for i, label in enumerate(labels):
        y = pad + cell * i + cell / 2 + 4
        out.append(f'<text x="{pad - 6}" y="{y:.1f}" text-anchor="end">{html.escape(label)}</text>')
        out.append(f'<text transform="translate({pad + cell * i + cell / 2 + 4:.1f},{pad - 6}) rotate(-90)">{html.escape(label)}</text>')
    for i in range(k):
        for j in range(k):
            s = share[i, j]
            fill = f"rgb({int(255 - 200 * s)},{int(255 - 120 * s)},{255})" if i == j else f"rgb(255,{int(255 - 190 * s)},{int(255 - 190 * s)})"
            out.append(f'<rect class="cell" x="{pad + cell * j}" y="{pad + cell * i}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ddd">'
                       f'<title>true {html.escape(labels[i])}, predicted {html.escape(labels[j])}: {int(m[i, j])}</title></rect>')
            if m[i, j]:
                out.append(f'<text x="{pad + cell * j + cell / 2}" y="{pad + cell * i + cell / 2 + 4}" text-anchor="middle">{int(m[i, j])}</text>')
    out.append("</svg>")
    return "".join(out)


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
    loss = {"train loss": [(e + 1, r["loss"]) for e, r in sorted(train_last.items())],
            "val loss": [(e + 1, r["loss"]) for e, r in sorted(val.items())]}
    acc = {"train accuracy": [(e + 1, r["accuracy"]) for e, r in sorted(train_last.items())],
           "val accuracy": [(e + 1, r["accuracy"]) for e, r in sorted(val.items())]}
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


def render(*, title: str, split: str, evaluation: dict, rows: list[dict], mistakes: list[Mistake], config_yaml: str,
           fingerprint: str, extra: dict | None = None) -> str:
    """The report as one HTML string.

    Args:
        evaluation: classification_metrics() of the reported split.
        rows: metrics.jsonl rows (empty for a model evaluated outside its run).
    """
    e = html.escape
    loss, acc = curves(rows)
    per_class = "".join(
        f"<tr><td>{e(name)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for name, m in evaluation["per_class"].items())
    cards = "".join(
        f'<div class="mistake">{m.preview}<b>{e(m.predicted)}</b> ({m.confidence:.0%})<br>true: {e(m.true)}<br><small>{e(m.key)}</small></div>'
        for m in mistakes) or "<p>No mistakes on this split.</p>"
    facts = "".join(f"<span><b>{e(k)}</b> {e(str(v))}</span>" for k, v in (extra or {}).items())
    charts = (f'<div class="charts">{line_chart(loss, "loss", "epoch")}{line_chart(acc, "accuracy", "epoch")}</div>'
              if rows else "<p>No training curves: this model was evaluated outside its run.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{STYLE}</style></head><body>
<h1>{e(title)}</h1>
<p class="summary"><span><b>{e(split)}</b> accuracy {evaluation['accuracy']:.4f}</span><span>macro-F1 {evaluation['macro_f1']:.4f}</span>
<span>n = {evaluation['n']}</span>{facts}</p>
<h2>Training curves</h2>{charts}
<h2>Confusion matrix ({e(split)})</h2>{confusion_svg(evaluation['confusion_matrix'], evaluation['labels'])}
<h2>Per class ({e(split)})</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>
<h2>Most confident mistakes ({len(mistakes)})</h2><div class="mistakes">{cards}</div>
<h2>Data</h2><p>fingerprint <code>{e(fingerprint)}</code></p>
<h2>Config</h2><pre>{e(config_yaml)}</pre>
</body></html>
"""


def write(path: Path, page: str) -> Path:
    atomic_write_text(path, page)
    return path
