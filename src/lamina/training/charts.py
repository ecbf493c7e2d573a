"""Inline SVG charts for report.html: line charts (curves), a confusion matrix, a scatter plot, and the
precision-recall series they draw. Drawn here, with no plotting library and no script in the page."""

from __future__ import annotations

import html

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def line_chart(
    series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, width: int = 460, height: int = 260
) -> str:
    """An SVG line chart: one polyline per named series of (x, y) points, with axes and a legend."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return f'<svg class="chart" width="{width}" height="{height}" role="img"><text x="20" y="30">{html.escape(title)}: no data</text></svg>'
    left, right, top, bottom = 52, width - 12, 28, height - 36
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.05 or 1.0
    sx, sy = _scale(x0, x1, left, right), _scale(y0, y1, bottom, top)
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" class="title">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
    ]
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        out.append(
            f'<line x1="{left}" y1="{sy(v):.1f}" x2="{right}" y2="{sy(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>'
        )
    whole = all(float(x).is_integer() for x in xs)
    ticks = (
        sorted({round(x0 + (x1 - x0) * i / 4) for i in range(5)})
        if whole
        else [x0 + (x1 - x0) * i / 4 for i in range(5)]
    )
    for v in ticks:  # epochs get whole-number ticks
        out.append(f'<text x="{sx(v):.1f}" y="{bottom + 16}" text-anchor="middle">{v:.4g}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{height - 4}" text-anchor="middle">{html.escape(xlabel)}</text>')
    for n, (name, pts) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        if len(pts) == 1:
            out.append(f'<circle cx="{sx(pts[0][0]):.1f}" cy="{sy(pts[0][1]):.1f}" r="3" fill="{color}"/>')
        out.append(
            f'<rect x="{right - 130}" y="{top + 4 + 16 * n}" width="10" height="10" fill="{color}"/>'
            f'<text x="{right - 115}" y="{top + 13 + 16 * n}">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def confusion_svg(matrix: list[list[int]], labels: list[str], cell: int = 34) -> str:
    """The confusion matrix as an SVG grid: rows true labels, columns predictions, shaded by row share."""
    k = len(labels)
    m = np.asarray(matrix, dtype=np.float64).reshape(k, k)
    share = m / np.maximum(1.0, m.sum(1, keepdims=True))
    pad = 8 + 7 * max((len(label) for label in labels), default=1)
    size = pad + cell * k + 10
    out = [
        f'<svg class="confusion" width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" aria-label="confusion matrix">'
    ]
    for i, label in enumerate(labels):
        y = pad + cell * i + cell / 2 + 4
        out.append(f'<text x="{pad - 6}" y="{y:.1f}" text-anchor="end">{html.escape(label)}</text>')
        out.append(
            f'<text transform="translate({pad + cell * i + cell / 2 + 4:.1f},{pad - 6}) rotate(-90)">{html.escape(label)}</text>'
        )
    for i in range(k):
        for j in range(k):
            s = share[i, j]
            fill = (
                f"rgb({int(255 - 200 * s)},{int(255 - 120 * s)},{255})"
                if i == j
                else f"rgb(255,{int(255 - 190 * s)},{int(255 - 190 * s)})"
            )
            out.append(
                f'<rect class="cell" x="{pad + cell * j}" y="{pad + cell * i}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ddd">'
                f"<title>true {html.escape(labels[i])}, predicted {html.escape(labels[j])}: {int(m[i, j])}</title></rect>"
            )
            if m[i, j]:
                out.append(
                    f'<text x="{pad + cell * j + cell / 2}" y="{pad + cell * i + cell / 2 + 4}" text-anchor="middle">{int(m[i, j])}</text>'
                )
    out.append("</svg>")
    return "".join(out)


def scatter_svg(
    x: np.ndarray,
    y: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
    width: int = 460,
    height: int = 300,
    limit: int = 2000,
) -> str:
    """An SVG scatter plot of up to ``limit`` points (evenly chosen), with the y = x line when ``diagonal``."""
    if not len(x):
        return f'<svg class="chart" width="{width}" height="{height}" role="img"><text x="20" y="30">{html.escape(title)}: no data</text></svg>'
    pick = np.linspace(0, len(x) - 1, min(limit, len(x))).astype(int)
    x, y = np.asarray(x, dtype=np.float64)[pick], np.asarray(y, dtype=np.float64)[pick]
    left, right, top, bottom = 56, width - 12, 28, height - 36
    lo_x, hi_x = (min(x.min(), y.min()), max(x.max(), y.max())) if diagonal else (x.min(), x.max())
    lo_y, hi_y = (lo_x, hi_x) if diagonal else (y.min(), y.max())
    sx, sy = _scale(lo_x, hi_x, left, right), _scale(lo_y, hi_y, bottom, top)
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" class="title">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">{lo_y:.3g}</text><text x="{left - 4}" y="{top + 8}" text-anchor="end">{hi_y:.3g}</text>',
        f'<text x="{left}" y="{bottom + 14}">{lo_x:.3g}</text><text x="{right}" y="{bottom + 14}" text-anchor="end">{hi_x:.3g}</text>',
        f'<text x="{(left + right) / 2}" y="{height - 4}" text-anchor="middle">{html.escape(xlabel)}</text>',
        f'<text transform="translate(12,{(top + bottom) / 2}) rotate(-90)" text-anchor="middle">{html.escape(ylabel)}</text>',
    ]
    if diagonal:
        out.append(
            f'<line x1="{sx(lo_x):.1f}" y1="{sy(lo_x):.1f}" x2="{sx(hi_x):.1f}" y2="{sy(hi_x):.1f}" stroke="#999" stroke-dasharray="4"/>'
        )
    out += [
        f'<circle class="point" cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="2" fill="{PALETTE[0]}" fill-opacity="0.5"/>'
        for a, b in zip(x, y)
    ]
    out.append("</svg>")
    return "".join(out)


def pr_curves(
    scores: np.ndarray, y: np.ndarray, labels: list[str], top: int = 5
) -> dict[str, list[tuple[float, float]]]:
    """Precision-recall curves (recall, precision) of all labels pooled (micro) and of the ``top`` most frequent labels."""
    from sklearn.metrics import precision_recall_curve

    truth = y > 0.5
    out = {}
    series = [("micro", truth.ravel(), scores.ravel())]
    for k in np.argsort(-truth.sum(0), kind="stable")[:top]:
        if truth[:, k].any():
            series.append((labels[k], truth[:, k], scores[:, k]))
    for name, t, s in series:
        if t.any():
            p, r, _ = precision_recall_curve(t, s)
            keep = np.linspace(0, len(p) - 1, min(len(p), 200)).astype(int)
            out[name] = [(float(r[i]), float(p[i])) for i in keep]
    return out
