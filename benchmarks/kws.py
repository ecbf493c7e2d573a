"""Keyword spotting: time to accuracy on the synthesized Speech Commands set, next to baselines.

    .venv/bin/python benchmarks/kws.py [--data DIR]

1. `lamina datasets make speech-commands-synth` (unless --data): wall time.
2. Zero-config `lamina train DATA` through the CLI with an empty decode cache: wall time
   (decode, train, evaluate, export ONNX), test accuracy on the held-out voices, peak memory.
3. Baselines on the same split: (a) the classical pipeline, librosa MFCCs (20 coefficients,
   mean and std over time) + logistic regression; (b) feature throughput, lamina's batched
   log-mel layer against librosa.feature.melspectrogram clip by clip, same parameters.

Needs espeak-ng and flite (apt-get install espeak-ng flite) and librosa (the test extra).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from measure import zero_config
from lamina.common.config import DataConfig
from lamina.data.audio import AudioPreprocess
from lamina.data.dataset import prepare_training_data
from lamina.data.speech_synth import make_speech_commands_synth


def mfcc_baseline(data: Path) -> dict:
    """librosa MFCC statistics + logistic regression, on lamina's split of the same clips."""
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import StandardScaler

    prepared = prepare_training_data(DataConfig(path=str(data)), seed=0)

    def features(split) -> np.ndarray:
        x = split.x.numpy().astype(np.float32) / 32768
        out = []
        for clip in x:
            m = librosa.feature.mfcc(y=clip, sr=16000, n_mfcc=20, n_fft=400, hop_length=160, n_mels=40, fmin=20, fmax=7600)
            out.append(np.concatenate([m.mean(1), m.std(1)]))
        return np.stack(out)

    t0 = time.perf_counter()
    train, test = prepared.splits["train"], prepared.splits["test"]
    scaler = StandardScaler().fit(features(train))
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(scaler.transform(features(train)), train.y.numpy())
    pred = clf.predict(scaler.transform(features(test)))
    return {"accuracy": accuracy_score(test.y.numpy(), pred), "macro_f1": f1_score(test.y.numpy(), pred, average="macro"),
            "wall_s": time.perf_counter() - t0, "n": len(test)}


def feature_throughput(n: int = 512) -> tuple[float, float]:
    """Clips/s of log-mel features: lamina's layer on batches of 128, librosa clip by clip (same parameters)."""
    import librosa

    from lamina.models.kws import LogMel

    prep = AudioPreprocess()
    clips = torch.randint(-8000, 8000, (n, prep.samples), dtype=torch.int16)
    layer = LogMel(prep)
    with torch.no_grad():
        layer(clips[:128].float())
        t0 = time.perf_counter()
        for i in range(0, n, 128):
            layer(clips[i : i + 128].float())
        ours = n / (time.perf_counter() - t0)
    x = clips.numpy().astype(np.float32) / 32768
    t0 = time.perf_counter()
    for clip in x[:128]:
        np.log(librosa.feature.melspectrogram(y=clip, sr=16000, n_fft=400, hop_length=160, n_mels=40, fmin=20, fmax=7600) + 1e-6)
    theirs = 128 / (time.perf_counter() - t0)
    return ours, theirs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, help="an existing synthesized set (default: made now)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lamina-kws-"))
    made = None
    if args.data is None:
        t0 = time.perf_counter()
        summary = make_speech_commands_synth(work / "data")
        made = (time.perf_counter() - t0, sum(sum(c.values()) for c in summary["counts"].values()))
    data = args.data or work / "data"
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}\n")
    if made:
        print(f"`lamina datasets make speech-commands-synth`: {made[1]} clips in {made[0]:.1f} s\n")
    s = zero_config(data, work)
    base = mfcc_baseline(data)
    print("| keyword spotting, test split = unseen voices | wall (s) | test accuracy | macro-F1 | epochs | samples/s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    t = s["metrics"]["test"]
    print(f"| zero-config `lamina train` (dscnn) | {s['wall_s']:.1f} | {t['accuracy']:.4f} | {t['macro_f1']:.4f} | {s['epochs']} | "
          f"{s['samples_per_s']:.0f} | {s['peak_rss_mb']:.0f} |")
    print(f"| baseline: librosa MFCC stats + logistic regression | {base['wall_s']:.1f} | {base['accuracy']:.4f} | "
          f"{base['macro_f1']:.4f} | | | |")
    print(f"\naccuracy ratio lamina / baseline: {t['accuracy'] / base['accuracy']:.2f}")
    ours, theirs = feature_throughput()
    print(f"\nlog-mel features: lamina layer {ours:.0f} clips/s (batches of 128), librosa {theirs:.0f} clips/s (one by one): "
          f"{ours / theirs:.1f}x")


if __name__ == "__main__":
    main()
