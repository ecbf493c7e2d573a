"""`lamina datasets make speech-commands-synth`: keyword clips spoken by real speech synthesizers.

The ten Speech Commands keywords, ``_unknown_`` (other words) and ``_silence_`` (noise), as
16 kHz mono WAV in the Speech Commands layout: a folder per class, ``_background_noise_/``
with noise recordings for augmentation, and ``validation_list.txt`` / ``testing_list.txt``.
Voices are espeak-ng's English accents x voice variants, flite's voices and two of
Festival's; every voice belongs to exactly one split, so val and test measure voices the
model never heard (flite's ``awb`` is only in test).
Each clip draws pitch, speed and loudness, and is placed at a random offset in its second.
The same seed gives the same files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.common.errors import LaminaError

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = (
    "bed",
    "bird",
    "cat",
    "dog",
    "eight",
    "five",
    "four",
    "happy",
    "house",
    "marvin",
    "nine",
    "one",
    "seven",
    "sheila",
    "six",
    "three",
    "tree",
    "two",
    "wow",
    "zero",
    "learn",
    "follow",
    "forward",
    "backward",
    "visual",
)
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "croak",
)
# slt is the only natural-sounding female voice at hand: it trains (a model that never heard one
# confuses a female 'go' with 'down'); awb, a Scottish male, is the held-out natural voice.
FLITE_VOICES = {"kal": "train", "kal16": "train", "rms": "train", "slt": "train", "awb": "test"}
# diphone voices (benchmarks/kws.py tests Festival's HTS voice)
FESTIVAL_VOICES = {
    "kal_diphone": "train",
    "ked_diphone": "train",
}
FESTIVAL_PACKAGES = "festival festvox-kallpc16k festvox-kdlpc16k"
BOOST = (
    12  # training renditions of a flite or Festival voice per espeak-ng voice: 6 of them against 78 espeak-ng voices
)
SAMPLE_RATE = 16000
NOISE_SECONDS = 20
PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite", "text2wave": FESTIVAL_PACKAGES}


@dataclass(frozen=True)
class Voice:
    synth: str  # "espeak-ng" | "flite" | "festival"
    name: str  # espeak: "en-gb-scotland+f3"; flite: "slt"; festival: "ked_diphone"

    @property
    def id(self) -> str:
        return hashlib.blake2b(f"{self.synth}:{self.name}".encode(), digest_size=4).hexdigest()


def voices(seed: int) -> dict[str, list[Voice]]:
    """Every voice, assigned to train / val / test (espeak-ng: 15% val, 15% test, seeded; flite and Festival: fixed)."""
    esp = [Voice("espeak-ng", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    order = np.random.default_rng([seed, 0x5EEC]).permutation(len(esp))
    n = round(0.15 * len(esp))
    out = {
        "val": [esp[i] for i in order[:n]],
        "test": [esp[i] for i in order[n : 2 * n]],
        "train": [esp[i] for i in order[2 * n :]],
    }
    for name, split in FLITE_VOICES.items():
        out[split].append(Voice("flite", name))
    for name, split in FESTIVAL_VOICES.items():
        out[split].append(Voice("festival", name))
    return out


def check_synthesizers() -> None:
    """Raise a LaminaError naming the Debian package of every synthesizer that is missing."""
    missing = [p for cmd, p in PACKAGES.items() if shutil.which(cmd) is None]
    if missing:
        raise LaminaError(
            f"speech-commands-synth: needs the speech synthesizers {', '.join(missing)}; "
            f"install the Debian packages: apt-get install {' '.join(missing)}"
        )


def synthesize(voice: Voice, word: str, pitch: float, speed: float, workdir: Path) -> np.ndarray:
    """One word as float32 mono at 16 kHz, leading and trailing silence trimmed.

    pitch and speed are in 0..1 (low..high) and are mapped to each synthesizer's own range.
    """
    import soundfile as sf
    import soxr

    out = workdir / f"{voice.id}-{word}-{os.getpid()}-{abs(hash((pitch, speed)))}.wav"
    text = None
    if voice.synth == "espeak-ng":
        cmd = [
            "espeak-ng",
            "-v",
            voice.name,
            "-p",
            str(int(20 + 60 * pitch)),
            "-s",
            str(int(120 + 110 * speed)),
            "-w",
            str(out),
            word,
        ]
    elif voice.synth == "festival":  # pitch: Festival's voices keep their own; the training augmentation varies it
        cmd = [
            "text2wave",
            "-eval",
            f"(voice_{voice.name})",
            "-eval",
            f"(Parameter.set 'Duration_Stretch {1.3 - 0.55 * speed:.3f})",
            "-o",
            str(out),
        ]
        text = word
    else:
        cmd = [
            "flite",
            "-voice",
            voice.name,
            "--setf",
            f"duration_stretch={1.35 - 0.6 * speed:.3f}",
            "--setf",
            f"int_f0_target_mean={int(85 + 120 * pitch)}",
            "-t",
            word,
            "-o",
            str(out),
        ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60, input=text.encode() if text else None)
        x, rate = sf.read(str(out), dtype="float32", always_2d=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise LaminaError(f"speech-commands-synth: {' '.join(cmd)} failed: {getattr(e, 'stderr', b'') or e}") from None
    finally:
        out.unlink(missing_ok=True)
    x = x.mean(axis=1)
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max()) if len(x) and np.abs(x).max() > 0 else np.array([0])
    return x[max(0, loud[0] - 160) : loud[-1] + 160]


def place(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The word at a random offset in one second (squeezed when longer), at a random level of -20..-1 dBFS."""
    n = SAMPLE_RATE
    if len(word) > int(0.95 * n):
        import soxr

        word = soxr.resample(word, len(word), int(0.95 * n), quality="HQ")[: int(0.95 * n)]
    out = np.zeros(n, np.float32)
    start = int(rng.integers(0, n - len(word) + 1))
    peak = np.abs(word).max() or 1.0
    out[start : start + len(word)] = word / peak * 10 ** (rng.uniform(-20, -1) / 20)
    return out


def noises(rng: np.random.Generator, babble_words: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Background noise recordings (float32, NOISE_SECONDS each): white, pink, brown, mains hum, a fan, babble."""
    n = SAMPLE_RATE * NOISE_SECONDS
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 1.0)
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(4001) / 4001, mode="same")  # remove the drift, keep the rumble
    t = np.arange(n) / SAMPLE_RATE
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8)) + 0.05 * white
    fan = (
        np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * np.exp(-(((f - 180) / 120) ** 2)), n)
        + 0.3 * pink / np.abs(pink).max()
    )
    babble = np.zeros(n)
    for _ in range(NOISE_SECONDS * 6):
        w = babble_words[int(rng.integers(len(babble_words)))]
        s = int(rng.integers(0, n - len(w)))
        babble[s : s + len(w)] += w * rng.uniform(0.3, 1.0)
    out = {
        "white_noise": white,
        "pink_noise": pink,
        "brown_noise": brown,
        "mains_hum": hum,
        "fan": fan,
        "babble": babble,
    }
    return {k: (v / np.abs(v).max() * 0.5).astype(np.float32) for k, v in out.items()}


def _jobs(by_split: dict, per_voice: int, boost: int, rng: np.random.Generator) -> list[tuple]:
    """(split, voice, word, label, pitch, speed, clip seed, rendition) of every clip to synthesize, in a fixed order."""
    jobs = []
    for split in ("train", "val", "test"):
        for voice in by_split[split]:
            for k in range(per_voice * (boost if split == "train" and voice.synth != "espeak-ng" else 1)):
                for word in KEYWORDS:
                    jobs.append((split, voice, word, word, rng.uniform(), rng.uniform(), int(rng.integers(2**31)), k))
                word = UNKNOWN_WORDS[int(rng.integers(len(UNKNOWN_WORDS)))]
                jobs.append(
                    (split, voice, word, "_unknown_", rng.uniform(), rng.uniform(), int(rng.integers(2**31)), k)
                )
    return jobs


def make_speech_commands_synth(
    output: Path,
    seed: int = 0,
    overwrite: bool = False,
    per_voice: int = 2,
    voices_per_split: int | None = None,
    boost: int = BOOST,
) -> dict:
    """Write the synthesized keyword-spotting set to ``output`` (see the module docstring).

    Args:
        per_voice: renditions of each keyword per voice (each with its own pitch, speed, level, offset).
        voices_per_split: use only this many voices per split, flite's and Festival's first (small sets for tests).
        boost: in train, a flite or Festival voice speaks ``boost`` times as many renditions as an
            espeak-ng voice, so the handful of them is not drowned by espeak-ng's 112 (one synthesis
            engine). Val and test count every voice the same.
    """
    from lamina.data.audio import write_wav

    check_synthesizers()
    output = Path(output)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise LaminaError(f"--output {output}: already exists. Choose another folder or pass --overwrite.")
    if output.exists():
        shutil.rmtree(output)
    rng = np.random.default_rng([seed, 0xC0DE])
    by_split = voices(seed)
    if voices_per_split is not None:
        by_split = {
            k: sorted(v, key=lambda voice: voice.synth != "flite")[:voices_per_split] for k, v in by_split.items()
        }
    jobs = _jobs(by_split, per_voice, boost, rng)
    with (
        tempfile.TemporaryDirectory(prefix="lamina-synth-") as tmp,
        ThreadPoolExecutor(min(8, (os.cpu_count() or 2) * 2)) as pool,
    ):
        words = list(pool.map(lambda j: synthesize(j[1], j[2], j[4], j[5], Path(tmp)), jobs))
    counts: dict[str, dict[str, int]] = {}
    lists: dict[str, list[str]] = {"val": [], "test": []}
    babble = [w for j, w in zip(jobs, words) if j[0] == "train" and j[3] == "_unknown_"]
    for (split, voice, word, label, _, _, clip_seed, k), x in zip(jobs, words):
        key = f"{label}/{voice.id}_nohash_{k}{'_' + word if label == '_unknown_' else ''}.wav"
        write_wav(output / key, place(x, np.random.default_rng(clip_seed)), SAMPLE_RATE)
        if split != "train":
            lists[split].append(key)
        counts.setdefault(split, {}).setdefault(label, 0)
        counts[split][label] += 1
    noise = noises(rng, babble)
    for name, x in noise.items():
        write_wav(output / "_background_noise_" / f"{name}.wav", x, SAMPLE_RATE)
    silence = sum(1 for j in jobs if j[3] == KEYWORDS[0])  # as many as one keyword has
    for i in range(silence):
        split = ("train", "val", "test")[int(rng.choice(3, p=[0.7, 0.15, 0.15]))]
        source = noise[list(noise)[int(rng.integers(len(noise)))]]
        start = int(rng.integers(0, len(source) - SAMPLE_RATE))
        key = f"_silence_/silence_{i:04d}_nohash_0.wav"
        # 5% near silence
        level = 10 ** (rng.uniform(-60, -15) / 20) if rng.uniform() > 0.05 else 10 ** (rng.uniform(-85, -75) / 20)
        write_wav(output / key, source[start : start + SAMPLE_RATE] * level, SAMPLE_RATE)
        if split != "train":
            lists[split].append(key)
        counts.setdefault(split, {}).setdefault("_silence_", 0)
        counts[split]["_silence_"] += 1
    (output / "validation_list.txt").write_text("\n".join(sorted(lists["val"])) + "\n", encoding="utf-8")
    (output / "testing_list.txt").write_text("\n".join(sorted(lists["test"])) + "\n", encoding="utf-8")
    return {
        "dataset": "speech-commands-synth",
        "output": str(output),
        "counts": counts,
        "voices": {s: [f"{v.synth}:{v.name}" for v in vs] for s, vs in by_split.items()},
        "labels": sorted([*KEYWORDS, "_unknown_", "_silence_"]),
    }
