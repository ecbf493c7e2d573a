"""An explanation drawn over its input: a heatmap over the picture the model saw, over the clip's log-mel
spectrogram, tokens shaded in HTML, a bar per table column. Red: hiding it lowered the label's score; blue: raised."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

MIN_SIDE = 224  # small pictures and spectrograms are enlarged to at least this many pixels


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
    picture = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
    return _overlay_png(path, picture.astype(np.float64), np.asarray(heat))


def audio_png(path: Path, clip: np.ndarray, prep, heat: list[list[float]]) -> Path:
    """The clip's log-mel spectrogram (low frequencies at the bottom) with the (n_mels, frames) map over it."""
    from lamina.data.mel import mel_filterbank
    from lamina.data.occluders import _stft

    power = np.abs(_stft(clip.astype(np.float64), prep.n_fft, prep.hop_length)) ** 2
    mel = np.log10(mel_filterbank(prep) @ power.T + 1e-6)  # (n_mels, frames)
    grey = 255 * (mel - mel.min()) / max(1e-9, mel.max() - mel.min())
    picture = np.repeat(grey[::-1, :, None], 3, axis=2)
    return _overlay_png(path, picture, np.asarray(heat)[::-1])


def _overlay_png(path: Path, picture: np.ndarray, heat: np.ndarray) -> Path:
    from PIL import Image

    scale = heat / max(1e-9, float(np.abs(heat).max()))
    red, blue = np.clip(scale, 0, 1)[..., None], np.clip(-scale, 0, 1)[..., None]
    out = (
        picture * (1 - 0.6 * red - 0.6 * blue) + 0.6 * red * np.array([255, 0, 0]) + 0.6 * blue * np.array([0, 0, 255])
    )
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    grow = max(1, -(-MIN_SIDE // min(img.size)))
    if grow > 1:
        img = img.resize((img.width * grow, img.height * grow), Image.NEAREST)
    img.save(path)
    return path


def tokens_html(path: Path, title: str, pairs: list[list]) -> Path:
    """Each token shaded by its value (red: it supported the label)."""
    top = max([abs(v) for _, v in pairs] + [1e-9])
    spans = "".join(_shaded(str(token), value / top) for token, value in pairs)
    return _page(path, title, f'<p class="tokens">{spans}</p>')


def columns_html(path: Path, title: str, pairs: list[list]) -> Path:
    """A bar per column, longest first."""
    top = max([abs(v) for _, v in pairs] + [1e-9])
    rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{value:+.4f}</td><td>"
        f'<div style="width:{200 * abs(value) / top:.0f}px;height:10px;background:{"#c00" if value >= 0 else "#00c"}">'
        "</div></td></tr>"
        for name, value in sorted(pairs, key=lambda p: -abs(p[1]))
    )
    return _page(path, title, f"<table><tr><th>column</th><th>drop</th><th></th></tr>{rows}</table>")


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
