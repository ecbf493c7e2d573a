"""An explanation drawn over its input: a heatmap over the picture the model saw, over the clip's log-mel
spectrogram, tokens shaded in HTML, a bar per table column. Red: the part supported the label; blue: it spoke
against it. Files for ``lamina explain --output``; inline HTML for the report's mistakes (``map_preview``)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

MIN_SIDE = 224  # small pictures and spectrograms are enlarged to at least this many pixels
BLUR_SHARE = 28  # a picture's map is drawn averaged over windows of 1/28 of its side (8 px at 224)


def draw(drawn_as: str, stem: Path, title: str, x: np.ndarray, heat, prep) -> Path:
    """The map ``heat`` of the graph input ``x`` drawn as its occluder says (``drawn_as``), at ``stem`` + .png or
    .html; the file written."""
    if drawn_as == "picture":
        return image_png(stem.with_suffix(".png"), x[0], heat)
    if drawn_as == "spectrogram":
        return audio_png(stem.with_suffix(".png"), x[0], prep, heat)
    pairs = tokens_html if drawn_as == "tokens" else columns_html
    return pairs(stem.with_suffix(".html"), title, heat)


def image_png(path: Path, x: np.ndarray, heat: list[list[float]]) -> Path:
    """The (H, W, C) picture with the (H, W) map over it."""
    path.write_bytes(_png(_image_overlay(x, heat)))
    return path


def audio_png(path: Path, clip: np.ndarray, prep, heat: list[list[float]]) -> Path:
    """The clip's log-mel spectrogram (low frequencies at the bottom) with the (bands, frames) map over it."""
    path.write_bytes(_png(_audio_overlay(clip, prep, heat)))
    return path


def map_preview(drawn_as: str, x: np.ndarray, heat, prep) -> str:
    """The map of graph input ``x`` as inline HTML, small, for a report: an <img> (data: URI) over a picture or a
    spectrogram; the tokens shaded; a row's five columns that weighed most."""
    if drawn_as == "tokens":
        return _tokens(heat)
    if drawn_as == "columns":
        return _columns(sorted(heat, key=lambda p: -abs(p[1]))[:5], width=80)
    picture = _image_overlay(x[0], heat) if drawn_as == "picture" else _audio_overlay(x[0], prep, heat)
    data = base64.b64encode(_png(picture, min_side=128)).decode("ascii")
    return f'<img class="map" alt="map" src="data:image/png;base64,{data}">'


def _image_overlay(x: np.ndarray, heat) -> np.ndarray:
    picture = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
    heat = np.asarray(heat, dtype=np.float64)
    return _overlay(picture.astype(np.float64), _box_blur(heat, max(1, min(heat.shape) // BLUR_SHARE)))


def _box_blur(heat: np.ndarray, k: int) -> np.ndarray:
    """Each value the mean of the k x k window around it (edges repeated): a pixel-level gradient map is speckled,
    and its regions show when averaged."""
    if k <= 1:
        return heat
    padded = np.pad(heat, ((k // 2, k - 1 - k // 2), (k // 2, k - 1 - k // 2)), mode="edge")
    sums = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = heat.shape
    return (sums[k : k + h, k : k + w] - sums[:h, k : k + w] - sums[k : k + h, :w] + sums[:h, :w]) / (k * k)


def _audio_overlay(clip: np.ndarray, prep, heat) -> np.ndarray:
    from lamina.data.mel import mel_filterbank
    from lamina.data.occluders import _stft

    power = np.abs(_stft(clip.astype(np.float64), prep.n_fft, prep.hop_length)) ** 2
    mel = np.log10(mel_filterbank(prep) @ power.T + 1e-6)  # (n_mels, frames)
    grey = 255 * (mel - mel.min()) / max(1e-9, mel.max() - mel.min())
    picture = np.repeat(grey[::-1, :, None], 3, axis=2)
    return _overlay(picture, np.asarray(heat, dtype=np.float64)[::-1])


def _overlay(picture: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): ``heat`` (stretched to the picture when its grid is coarser or finer) shaded over it."""
    if heat.shape != picture.shape[:2]:
        rows = np.minimum(np.arange(picture.shape[0]) * heat.shape[0] // picture.shape[0], heat.shape[0] - 1)
        cols = np.minimum(np.arange(picture.shape[1]) * heat.shape[1] // picture.shape[1], heat.shape[1] - 1)
        heat = heat[rows][:, cols]
    # against the 99th percentile, not the largest value: a pixel-level gradient map has a few pixels far above the
    # rest, which would leave everything else unshaded
    scale = np.clip(heat / max(1e-9, float(np.percentile(np.abs(heat), 99))), -1, 1)
    red, blue = np.clip(scale, 0, 1)[..., None], np.clip(-scale, 0, 1)[..., None]
    out = (
        picture * (1 - 0.6 * red - 0.6 * blue) + 0.6 * red * np.array([255, 0, 0]) + 0.6 * blue * np.array([0, 0, 255])
    )
    return np.clip(out, 0, 255).astype(np.uint8)


def _png(picture: np.ndarray, min_side: int = MIN_SIDE) -> bytes:
    """PNG bytes of a uint8 (H, W, 3) picture, enlarged by a whole factor to at least ``min_side`` pixels."""
    from PIL import Image

    img = Image.fromarray(picture)
    grow = max(1, -(-min_side // min(img.size)))
    if grow > 1:
        img = img.resize((img.width * grow, img.height * grow), Image.NEAREST)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def tokens_html(path: Path, title: str, pairs: list[list]) -> Path:
    """Each token shaded by its value (red: it supported the label)."""
    return _page(path, title, _tokens(pairs))


def _tokens(pairs: list[list]) -> str:
    top = max([abs(v) for _, v in pairs] + [1e-9])
    return '<p class="tokens">' + "".join(_shaded(str(token), value / top) for token, value in pairs) + "</p>"


def columns_html(path: Path, title: str, pairs: list[list]) -> Path:
    """A bar per column, longest first."""
    return _page(path, title, _columns(sorted(pairs, key=lambda p: -abs(p[1])), width=200))


def _columns(pairs: list[list], width: int) -> str:
    top = max([abs(v) for _, v in pairs] + [1e-9])
    rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{value:+.4f}</td><td>"
        f'<div style="width:{width * abs(value) / top:.0f}px;height:10px;background:{"#c00" if value >= 0 else "#00c"}">'
        "</div></td></tr>"
        for name, value in pairs
    )
    return f'<table class="columns"><tr><th>column</th><th>drop</th><th></th></tr>{rows}</table>'


def _shaded(token: str, share: float) -> str:
    colour = f"rgba(220,0,0,{share:.2f})" if share >= 0 else f"rgba(0,0,220,{-share:.2f})"
    return f'<span style="background:{colour}" title="{share:+.3f}">{html.escape(token)}</span> '


def _page(path: Path, title: str, body: str) -> Path:
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>body{{font-family:sans-serif;margin:2em}}.tokens span{{padding:1px 2px}}</style>"
        f"<h1>{html.escape(title)}</h1>{body}",
        encoding="utf-8",
    )
    return path
