"""Keyword spotting: time to accuracy on the synthesized Speech Commands set, and on voices no training clip comes from.

    .venv/bin/python benchmarks/kws.py [--data DIR]

1. `lamina datasets make speech-commands-synth` (unless --data): wall time.
2. In one run, each through the CLI with an empty decode cache: zero-config `lamina train DATA`
   (the speech_embedding fine-tuned when openwakeword is installed), `--set model.freeze=true` (that
   embedding frozen) and `--set model.name=dscnn` (from scratch): wall time (decode, train, evaluate,
   export ONNX), test accuracy on the held-out voices, peak memory of the training process.
3. Baselines on the same split: (a) frozen speech_embedding features (lamina's layers, the same
   padding and pooling) + logistic regression; (b) librosa MFCCs (20 coefficients, mean and std
   over time) + logistic regression; (c) feature throughput, lamina's batched log-mel layer
   against librosa.feature.melspectrogram clip by clip, same parameters.
4. Engines no training clip comes from: Festival's HTS voice (festvox-us-slt-hts; 10 keywords and
   5 other words at 5 speeds) and the original eSpeak 1.48 (Debian `espeak`, the formant
   synthesizer espeak-ng forked from; 6 voice presets, none of them a training variant, at 3
   speeds, the 10 keywords): accuracy of every model above.
5. Test accuracy per held-out voice group (espeak-ng voices, flite's awb) for zero-config.

Needs espeak-ng, flite and Festival (apt-get install espeak-ng flite festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts espeak), openwakeword (pip install --no-deps openwakeword==0.5.1)
and librosa (the test extra).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from measure import evaluate, zero_config
from lamina.common.config import DataConfig
from lamina.data.audio import AudioPreprocess, load_audio
from lamina.data.dataset import prepare_training_data
from lamina.datasets.speech_synth import make_speech_commands_synth


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
            m = librosa.feature.mfcc(
                y=clip, sr=16000, n_mfcc=20, n_fft=400, hop_length=160, n_mels=40, fmin=20, fmax=7600
            )
            out.append(np.concatenate([m.mean(1), m.std(1)]))
        return np.stack(out)

    t0 = time.perf_counter()
    train, test = prepared.splits["train"], prepared.splits["test"]
    scaler = StandardScaler().fit(features(train))
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(scaler.transform(features(train)), train.y.numpy())
    pred = clf.predict(scaler.transform(features(test)))
    return {
        "accuracy": accuracy_score(test.y.numpy(), pred),
        "macro_f1": f1_score(test.y.numpy(), pred, average="macro"),
        "wall_s": time.perf_counter() - t0,
        "n": len(test),
    }


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
        np.log(
            librosa.feature.melspectrogram(y=clip, sr=16000, n_fft=400, hop_length=160, n_mels=40, fmin=20, fmax=7600)
            + 1e-6
        )
    theirs = 128 / (time.perf_counter() - t0)
    return ours, theirs


def by_voice(run: Path, data: Path) -> dict[str, tuple[float, int]]:
    """Test accuracy per held-out voice group: espeak-ng voices, flite's awb, and silence."""
    import lamina
    from lamina.datasets.speech_synth import voices

    names = {
        v.id: (v.synth if v.synth == "espeak-ng" else f"{v.synth}:{v.name}") for vs in voices(0).values() for v in vs
    }
    keys = (data / "testing_list.txt").read_text().split()
    predictions = lamina.load(run).predict([str(data / k) for k in keys], top_k=1)
    hits: dict[str, list[bool]] = {}
    for key, p in zip(keys, predictions):
        group = names.get(key.split("/")[1].split("_nohash_")[0], "_silence_")
        hits.setdefault(group, []).append(p["label"] == key.split("/")[0])
    return {g: (sum(h) / len(h), len(h)) for g, h in sorted(hits.items())}


HTS_VOICE = "cmu_us_slt_arctic_hts"  # Debian festvox-us-slt-hts: Festival's statistical parametric (HTS) voice


def unseen_engine_set(out: Path, seed: int = 0) -> Path | None:
    """Keywords and 5 other words by Festival's HTS voice at 5 speeds: a synthesis engine and a voice that no
    training clip uses. None when festival or the voice is not installed."""
    import shutil

    import soundfile as sf
    import soxr

    from lamina.data.audio import write_wav
    from lamina.datasets.speech_synth import KEYWORDS, SAMPLE_RATE, UNKNOWN_WORDS, place

    if shutil.which("text2wave") is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for stretch in (0.75, 0.9, 1.0, 1.15, 1.3):
        for word, label in [(w, w) for w in KEYWORDS] + [(w, "_unknown_") for w in UNKNOWN_WORDS[::5]]:
            wav = out / "tmp.wav"
            proc = subprocess.run(
                [
                    "text2wave",
                    "-eval",
                    f"(voice_{HTS_VOICE})",
                    "-eval",
                    f"(Parameter.set 'Duration_Stretch {stretch})",
                    "-o",
                    str(wav),
                ],
                input=word,
                text=True,
                capture_output=True,
            )
            if proc.returncode != 0:
                return None
            x, rate = sf.read(str(wav), dtype="float32")
            x = soxr.resample(x, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else x
            loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
            write_wav(
                out / label / f"hts_{stretch}_{word}.wav",
                place(x[max(0, loud[0] - 160) : loud[-1] + 160], rng),
                SAMPLE_RATE,
            )
    (out / "tmp.wav").unlink(missing_ok=True)
    return out


# variants espeak-ng training lacks
ESPEAK_PRESETS = (
    "en+whisper",
    "en+whisperf",
    "en+klatt4",
    "en-n+m3",
    "en-wm+f2",
    "en-sc+f4",
)


def espeak_classic_set(out: Path, seed: int = 0) -> Path | None:
    """The 10 keywords by the original eSpeak 1.48 in 6 voice presets at 120, 175 and 230 words per minute; None without it."""
    import shutil

    import soundfile as sf
    import soxr

    from lamina.data.audio import write_wav
    from lamina.datasets.speech_synth import KEYWORDS, SAMPLE_RATE, place

    if (
        shutil.which("espeak") is None
        or "eSpeak text-to-speech: 1."
        not in subprocess.run(["espeak", "--version"], capture_output=True, text=True).stdout
    ):
        return None
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for preset in ESPEAK_PRESETS:
        for speed in (120, 175, 230):
            for word in KEYWORDS:
                wav = out / "tmp.wav"
                subprocess.run(["espeak", "-v", preset, "-s", str(speed), "-w", str(wav), word], check=True)
                x, rate = sf.read(str(wav), dtype="float32")
                x = soxr.resample(x, rate, SAMPLE_RATE)
                loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
                write_wav(
                    out / word / f"{preset}_{speed}.wav",
                    place(x[max(0, loud[0] - 160) : loud[-1] + 160], rng),
                    SAMPLE_RATE,
                )
    (out / "tmp.wav").unlink(missing_ok=True)
    return out


def _embedding_lr(data: Path, unseen: dict[str, Path]) -> dict:
    """Frozen speech_embedding (lamina's layers, padding and pooling, fp32) + standardised logistic regression."""
    import resource

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from lamina.common.config import ModelConfig
    from lamina.models.registry import build_model, resolve

    t0 = time.perf_counter()
    prepared = prepare_training_data(DataConfig(path=str(data)), seed=0)
    model = build_model(
        resolve(ModelConfig(name="speech-embedding"), "audio"),
        (prepared.prep.samples,),
        2,
        [],
        [],
        "audio",
        prepared.prep,
    ).eval()

    @torch.no_grad()
    def features(x: torch.Tensor) -> np.ndarray:
        return torch.cat(
            [model.net.features(model.frontend(x[i : i + 128].float())) for i in range(0, len(x), 128)]
        ).numpy()

    train = prepared.splits["train"]
    scaler = StandardScaler().fit(features(train.x))
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(scaler.transform(features(train.x)), train.y.numpy())

    def accuracy(x: torch.Tensor, y: np.ndarray) -> float:
        return float((clf.predict(scaler.transform(features(x))) == y).mean())

    out = {
        "test": accuracy(prepared.splits["test"].x, prepared.splits["test"].y.numpy()),
        "wall_s": time.perf_counter() - t0,
    }
    for name, folder in unseen.items():  # the unseen clips, as lamina decodes them, labelled by their folders
        files = sorted(folder.rglob("*.wav"))
        x = torch.from_numpy(np.stack([load_audio(f, prepared.prep).samples for f in files]))
        out[name] = accuracy(x, np.array([prepared.labels.index(f.parent.name) for f in files]))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def embedding_lr(data: Path, unseen: dict[str, Path]) -> dict:
    """_embedding_lr in a fresh process, so its peak memory is its own."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1) as pool:
        return pool.submit(_embedding_lr, data, unseen).result()


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
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    print(f"machine: {cpu}, {os.cpu_count()} cores, bf16 {'yes' if bf16 else 'no'}, torch {torch.__version__}\n")
    if made:
        print(f"`lamina datasets make speech-commands-synth`: {made[1]} clips in {made[0]:.1f} s\n")
    unseen = {
        k: v
        for k, v in {"eSpeak 1.48": espeak_classic_set(work / "espeak"), "HTS": unseen_engine_set(work / "hts")}.items()
        if v is not None
    }
    sizes = {k: sum(1 for _ in v.rglob("*.wav")) for k, v in unseen.items()}
    runs = {
        "zero-config `lamina train`": ("run", []),
        "`--set model.freeze=true` (the embedding frozen, the head alone)": ("frozen", ["--set", "model.freeze=true"]),
        "`--set model.name=dscnn` (from scratch)": ("dscnn", ["--set", "model.name=dscnn"]),
    }
    cols = "".join(f" {k} ({sizes[k]}) |" for k in unseen)
    print(f"| keyword spotting | model | wall (s) | test accuracy (unseen voices) |{cols} epochs | peak RSS (MB) |")
    print("|---|---|---|---|" + "---|" * len(unseen) + "---|---|")
    for label, (name, options) in runs.items():
        s = zero_config(data, work, *options, name=name)
        model = next(
            line.split(":", 1)[1].strip()
            for line in (work / name / "config.yaml").read_text().splitlines()
            if line.strip().startswith("name:") and "model" not in line
        )
        accs = "".join(f" {evaluate(work / name, v):.4f} |" for v in unseen.values())
        print(
            f"| {label} | {model} | {s['wall_s']:.1f} | {s['metrics']['test']['accuracy']:.4f} |{accs} {s['epochs']} | "
            f"{s['peak_rss_mb']:.0f} |",
            flush=True,
        )
    b = embedding_lr(data, unseen)
    accs = "".join(f" {b[k]:.4f} |" for k in unseen)
    print(
        f"| baseline: frozen speech_embedding + logistic regression | | {b['wall_s']:.1f} | {b['test']:.4f} |{accs} | "
        f"{b['peak_rss_mb']:.0f} |"
    )
    base = mfcc_baseline(data)
    print(
        f"| baseline: librosa MFCC stats + logistic regression | | {base['wall_s']:.1f} | {base['accuracy']:.4f} |"
        + " |" * len(unseen)
        + " | |"
    )
    groups = by_voice(work / "run", data)
    print("\n| test voices (never heard in training), zero-config | clips | accuracy |\n|---|---|---|")
    for group, (acc, n) in groups.items():
        print(f"| {group} | {n} | {acc:.4f} |")
    ours, theirs = feature_throughput()
    print(
        f"\nlog-mel features: lamina layer {ours:.0f} clips/s (batches of 128), librosa {theirs:.0f} clips/s (one by one): "
        f"{ours / theirs:.1f}x"
    )


if __name__ == "__main__":
    main()
