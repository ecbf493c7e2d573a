"""What occluding a part of an input means, per modality: the twins of lamina.data's modality objects for
explanations (``OCCLUDERS``, by modality name), torch-free like the server.

Each takes one input as the exported graph takes it (``x``: the graph's row, batch of one) and answers:

- ``parts(x, prep, tokenizer)``: the parts of ``x`` that can be hidden, each one in turn;
- ``hide(x, parts, prep)``: ``x`` with all of ``parts`` hidden (one a time for a map, the most important fifth
  together for the deletion check);
- ``attribution(drops, parts, x, prep, tokenizer)``: the JSON map of how much hiding each part lowered the predicted
  label's score (``drops``, one per part), in the input's own coordinates;
- ``drawn_as`` (how lamina.data.map_drawing draws the map over the input) and ``extras`` (what else the JSON
  says: an image's ``box``);
- ``judged_parts(drops, parts, x, prep)`` and ``map_parts(heat, x, prep, tokenizer)`` (where a gradient map
  exists): the parts the deletion check hides a fifth of, with their values (lamina.explaining.sanity).

Images hide square patches (half-overlapping, an eighth of the side) under the picture's mean colour; audio hides
tiles of the short-time spectrum (a band of mel frequencies over 100 ms) by zeroing them and resynthesising the
clip; texts replace one token at a time by padding; tables set one column at a time to missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.data.table_data import missing_value


def variants(occluder, x: np.ndarray, prep, tokenizer=None) -> tuple[np.ndarray, list]:
    """(copies of ``x`` with one part each hidden (M, ...), the M parts)."""
    parts = occluder.parts(x, prep, tokenizer)
    if not parts:
        return x[:0], []
    return np.concatenate([occluder.hide(x, [p], prep) for p in parts]), parts


class ImageOccluder:
    """uint8 (1, H, W, C): patches of ~H/8 pixels at half their size apart, filled with the picture's mean colour."""

    def parts(self, x: np.ndarray, prep, tokenizer=None) -> list[tuple[int, int, int]]:
        """(top, left, side) of each patch."""
        _, h, w, _ = x.shape
        patch = max(2, round(min(h, w) / 8))
        step = max(1, patch // 2)
        return [(t, lft, patch) for t in range(0, h - patch + step, step) for lft in range(0, w - patch + step, step)]

    def hide(self, x: np.ndarray, parts: list, prep) -> np.ndarray:
        out = x.copy()
        mean = x[0].reshape(-1, x.shape[3]).mean(0).round().astype(x.dtype)
        for top, left, patch in parts:
            out[0, top : top + patch, left : left + patch] = mean
        return out

    drawn_as = "picture"  # lamina.data.map_drawing

    def extras(self, item, prep) -> dict:
        """``box``: the region of the original picture the model saw (lamina.data.image.region_seen); none for pixels
        given as an array."""
        from lamina.data.image import region_seen

        box = region_seen(item, prep.fit) if isinstance(item, (str, bytes, Path)) else None
        return {"box": box} if box is not None else {}

    def attribution(self, drops: np.ndarray, parts: list, x: np.ndarray, prep, tokenizer=None) -> list[list[float]]:
        """(H, W): each pixel's mean drop over the patches that hid it."""
        _, h, w, _ = x.shape
        total, seen = np.zeros((h, w)), np.zeros((h, w))
        for d, (top, left, patch) in zip(drops, parts):
            total[top : top + patch, left : left + patch] += d
            seen[top : top + patch, left : left + patch] += 1
        return np.round(total / np.maximum(seen, 1), 5).tolist()

    def judged_parts(self, drops: np.ndarray, parts: list, x: np.ndarray, prep) -> tuple[list, np.ndarray]:
        """(parts, values) the deletion check (lamina.explaining.sanity) hides a fifth of, for an occlusion map:
        1-pixel patches, valued by the map (a fifth of the overlapping patches covers less than a fifth)."""
        return self.map_parts(np.asarray(self.attribution(drops, parts, x, prep)), x, prep)

    def map_parts(self, heat: np.ndarray, x: np.ndarray, prep, tokenizer=None) -> tuple[list, np.ndarray]:
        """(parts, values) for a map over the picture (H, W): its pixels."""
        return [(r, c, 1) for r in range(heat.shape[0]) for c in range(heat.shape[1])], heat.ravel()


class AudioOccluder:
    """int16 (1, samples): tiles of 8 mel-spaced frequency bands x 100 ms of the short-time spectrum zeroed (the
    clip resynthesised by overlap-add), so the map is over mel bands x frames as the network's front end sees them."""

    BANDS = 8
    TILE_FRAMES = 10  # 100 ms at the front end's 10 ms hop

    drawn_as = "spectrogram"  # lamina.data.map_drawing

    def extras(self, item, prep) -> dict:
        return {}

    def parts(self, x: np.ndarray, prep, tokenizer=None) -> list[tuple[int, int]]:
        """(band, first frame) of each tile."""
        frames = 1 + x.shape[1] // prep.hop_length
        return [(b, t) for b in range(self.BANDS) for t in range(0, frames, self.TILE_FRAMES)]

    def hide(self, x: np.ndarray, parts: list, prep) -> np.ndarray:
        clip = x[0].astype(np.float64)
        spec = _stft(clip, prep.n_fft, prep.hop_length)
        edges = _band_edges(prep, self.BANDS)
        for b, t in parts:
            spec[t : t + self.TILE_FRAMES, edges[b] : edges[b + 1]] = 0
        out = np.round(_istft(spec, prep.n_fft, prep.hop_length, len(clip)))
        return np.clip(out, -32768, 32767).astype(x.dtype)[None]

    def attribution(self, drops: np.ndarray, parts: list, x: np.ndarray, prep, tokenizer=None) -> list[list[float]]:
        """(n_mels, frames): each tile's drop on the mel bands whose centres fall in its frequency band."""
        from lamina.data.mel import mel_filterbank

        frames = 1 + x.shape[1] // prep.hop_length
        edges = _band_edges(prep, self.BANDS)
        centre_bins = mel_filterbank(prep).argmax(1)  # the FFT bin each mel band peaks at
        band_of_mel = np.clip(np.searchsorted(edges, centre_bins, side="right") - 1, 0, self.BANDS - 1)
        out = np.zeros((prep.n_mels, frames))
        for d, (b, t) in zip(drops, parts):
            out[band_of_mel == b, t : t + self.TILE_FRAMES] = d
        return np.round(out, 5).tolist()

    def judged_parts(self, drops: np.ndarray, parts: list, x: np.ndarray, prep) -> tuple[list, np.ndarray]:
        return parts, drops

    def map_parts(self, heat: np.ndarray, x: np.ndarray, prep, tokenizer=None) -> tuple[list, np.ndarray]:
        """(tiles, values) for a map over (bands, frames) of any resolution: each tile's sum of the map, rows and
        frames placed by their share of the band range and of the clip."""
        parts = self.parts(x, prep)
        frames = 1 + x.shape[1] // prep.hop_length
        band = np.arange(heat.shape[0]) * self.BANDS // heat.shape[0]  # mel rows -> the tiles' bands
        frame = np.arange(heat.shape[1]) * frames // heat.shape[1]  # the map's frames -> the clip's 10 ms frames
        values = [heat[band == b][:, (frame >= t) & (frame < t + self.TILE_FRAMES)].sum() for b, t in parts]
        return parts, np.asarray(values)


class TextOccluder:
    """int64 token ids (1, L): each real token (not padding, not the first and last special ids) replaced by
    padding, which every text model masks."""

    drawn_as = "tokens"  # lamina.data.map_drawing

    def extras(self, item, prep) -> dict:
        return {}

    def parts(self, x: np.ndarray, prep, tokenizer=None) -> list[int]:
        """The positions of the text's own tokens."""
        return text_positions(x[0], tokenizer)

    def hide(self, x: np.ndarray, parts: list, prep) -> np.ndarray:
        out = x.copy()
        out[0, list(parts)] = 0
        return out

    def attribution(self, drops: np.ndarray, parts: list, x: np.ndarray, prep, tokenizer=None) -> list[list]:
        """[[token, drop], ...] in the text's order."""
        return [[token_text(tokenizer, int(x[0, p])), round(float(d), 5)] for p, d in zip(parts, drops)]

    def judged_parts(self, drops: np.ndarray, parts: list, x: np.ndarray, prep) -> tuple[list, np.ndarray]:
        return parts, drops

    def map_parts(self, heat: np.ndarray, x: np.ndarray, prep, tokenizer=None) -> tuple[list, np.ndarray]:
        """(positions, values) for a map over the token positions: the text's own tokens."""
        positions = self.parts(x, prep, tokenizer)
        return positions, heat[positions]


class TableOccluder:
    """float32 rows (1, width): each column in turn set to missing (a number NaN, a category 0, a text no words, a
    picture NaN)."""

    drawn_as = "columns"  # lamina.data.map_drawing

    def extras(self, item, prep) -> dict:
        return {}

    def parts(self, x: np.ndarray, prep, tokenizer=None) -> list[int]:
        """The columns, by their place in the row."""
        return list(range(len(prep.spans)))

    def hide(self, x: np.ndarray, parts: list, prep) -> np.ndarray:
        out = x.copy()
        for i in parts:
            column, at, width = prep.spans[i]
            out[0, at : at + width] = missing_value(column)
        return out

    def attribution(self, drops: np.ndarray, parts: list, x: np.ndarray, prep, tokenizer=None) -> list[list]:
        """[[column, drop], ...] in the table's column order."""
        return [[prep.spans[i][0]["name"], round(float(d), 5)] for i, d in zip(parts, drops)]

    def judged_parts(self, drops: np.ndarray, parts: list, x: np.ndarray, prep) -> tuple[list, np.ndarray]:
        return parts, drops


METHOD = "occlusion"
TINY = 1e-38  # float32's smallest normal: probabilities below it are zero


def evidence(scores: np.ndarray, target: int, kind: str) -> np.ndarray:
    """(N,) a model's evidence for output ``target`` in its scores (N, outputs): a probability's log-odds, computed
    from the other labels' probabilities so that a sure answer (p = 1.0 in float32) still moves when a part is
    hidden; a regression's value as it is."""
    p = scores[:, target].astype(np.float64)
    if kind == "regression":
        return p
    rest = scores.sum(1) - scores[:, target] if kind == "classification" else 1.0 - p
    return np.log(np.maximum(p, TINY)) - np.log(np.maximum(rest.astype(np.float64), TINY))


def lowered_evidence(
    base: np.ndarray, occluded: np.ndarray, kind: str, target: int | None = None
) -> tuple[int, np.ndarray]:
    """(the output explained: ``target``, or the one the model answers, (M,) how much hiding each part lowered the
    evidence for it), from the scores of the input (1, outputs) and of its occluded copies (M, outputs)."""
    target = int(np.argmax(base[0])) if target is None else target
    if not len(occluded):
        return target, np.zeros(0)
    return target, evidence(base, target, kind)[0] - evidence(occluded, target, kind)


def explanation(occluder, item, x: np.ndarray, base: np.ndarray, occluded: np.ndarray, parts: list, served) -> dict:
    """What ``lamina explain`` and POST /explain answer for one input: label, score, method, map (and an image's box).
    ``served`` has the package's labels, task, prep and tokenizer."""
    target, lowered = lowered_evidence(base, occluded, served.task.kind)
    return {
        "label": served.labels[target] if target < len(served.labels) else str(target),
        "score": float(base[0, target]),
        "method": METHOD,
        **occluder.extras(item, served.prep),
        "map": occluder.attribution(lowered, parts, x, served.prep, served.tokenizer),
    }


OCCLUDERS = {"image": ImageOccluder(), "audio": AudioOccluder(), "text": TextOccluder(), "table": TableOccluder()}


def text_positions(ids: np.ndarray, tokenizer) -> list[int]:
    """The positions of a text's own tokens: the ids before the padding, less a leading and trailing special id."""
    real = np.flatnonzero(ids != 0).tolist()
    specials = _special_ids(tokenizer)
    return [p for i, p in enumerate(real) if not ((i == 0 or i == len(real) - 1) and int(ids[p]) in specials)]


def _special_ids(tokenizer) -> set[int]:
    if tokenizer is None:
        return set()
    found = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "<s>", "</s>", "[BOS]", "[EOS]"))
    return {i for i in found if i is not None}


def token_text(tokenizer, token_id: int) -> str:
    word = tokenizer.id_to_token(token_id) if tokenizer is not None else None
    return word if word is not None else f"#{token_id}"


def _band_edges(prep, bands: int) -> np.ndarray:
    """FFT bin edges of ``bands`` bands equally wide on the mel scale between the front end's fmin and fmax."""
    from lamina.data.mel import _hz_to_mel, _mel_to_hz

    hz = _mel_to_hz(np.linspace(_hz_to_mel(prep.fmin), _hz_to_mel(prep.fmax), bands + 1))
    edges = np.round(hz / (prep.sample_rate / 2) * (prep.n_fft // 2)).astype(np.int64)
    edges[-1] = prep.n_fft // 2 + 1
    return edges


def _stft(clip: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(frames, n_fft // 2 + 1) complex spectrum of Hann-windowed frames, centred (reflect-padded by n_fft // 2)."""
    padded = np.pad(clip, n_fft // 2, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    window = np.hanning(n_fft + 1)[:-1]
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.fft.rfft(padded[idx] * window, axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """The clip of ``length`` samples back from _stft's spectrum (weighted overlap-add)."""
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
    total = n_fft + hop * (len(spec) - 1)
    out, norm = np.zeros(total), np.zeros(total)
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += window**2
    out /= np.maximum(norm, 1e-8)
    return out[n_fft // 2 : n_fft // 2 + length]
