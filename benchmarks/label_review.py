"""Label review: how many of 5% deliberately flipped labels `lamina review` finds.

    .venv/bin/python benchmarks/label_review.py [--sets digits,emoji-images,fortunes,...] [--share 0.05] [--repeats 3]

Each dev set gets a seeded 5% of its labels changed to another label at random; `lamina review` (zero-config, 5
folds, dealt --repeats times) ranks every sample. Figures: the flagged set's precision and recall against the flipped samples,
precision@k for k = the number flipped of lamina's ranking (the out-of-fold probabilities with the neighbours'
labels blended in, where the model has a frozen embedding), and of the plain ranking on the same out-of-fold
probabilities alone (lowest probability of the given label first); the neighbours' weight in the blend.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import tables  # noqa: E402  (the dev tables)
from measure import machine_line  # noqa: E402

SEED = 0


def _flip(rows: list[list[str]], label_at: int, share: float) -> tuple[list[list[str]], set[int]]:
    """``rows`` with ``share`` of their labels changed to another label (seeded); the changed rows' indices."""
    rng = np.random.default_rng(SEED)
    labels = sorted({r[label_at] for r in rows})
    flipped = set(rng.choice(len(rows), round(share * len(rows)), replace=False).tolist())
    out = []
    for i, r in enumerate(rows):
        r = list(r)
        if i in flipped:
            r[label_at] = rng.choice([x for x in labels if x != r[label_at]])
        out.append(r)
    return out, flipped


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _row_keys(path: Path) -> list[str]:
    """Each record's key as lamina names it: "row N", N the line its record ends on (the header is row 1)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [f"row {reader.line_num}" for _ in reader]


def _flipped_table(table: Path, label: str, work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    """A copy of ``table`` without its split column and with flipped labels; the flipped rows' keys; the settings
    that name its label column."""
    with open(table, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        body = list(reader)
    keep = [i for i, h in enumerate(header) if h != "split"]
    rows, flipped = _flip([[r[i] for i in keep] for r in body], [header[i] for i in keep].index(label), share)
    out = _write(work / "noisy.csv", [header[i] for i in keep], rows)
    keys = _row_keys(out)
    return out, {keys[i] for i in flipped}, ["--set", f"data.label_column={label}"]


def digits(work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    """The digits images as a manifest (path, label)."""
    subprocess.run(
        [sys.executable, "-m", "lamina", "datasets", "make", "digits", "--output", str(work / "d")], check=True
    )
    files = sorted((work / "d").rglob("*.png"))
    rows, flipped = _flip([[str(f.relative_to(work / "d")), f.parent.name] for f in files], 1, share)
    return _write(work / "d" / "noisy.csv", ["path", "label"], rows), {rows[i][0] for i in flipped}, []


def emoji_images(work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    """The emoji pictures (Noto Color Emoji, 3,655 glyphs in 9 Unicode groups) as a manifest (path, label)."""
    from lamina.datasets.emoji import make_emoji

    make_emoji(work / "e")
    files = sorted((work / "e").rglob("*.png"))
    rows, flipped = _flip([[str(f.relative_to(work / "e")), f.parent.name] for f in files], 1, share)
    return _write(work / "e" / "noisy.csv", ["path", "label"], rows), {rows[i][0] for i in flipped}, []


def fortunes(work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    """The fortunes texts (text, label)."""
    made = work / "fortunes.csv"
    subprocess.run([sys.executable, "-m", "lamina", "datasets", "make", "fortunes", "--output", str(made)], check=True)
    return _flipped_table(made, "label", work, share)


def package_descriptions(work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    """Debian packages' one-line descriptions (text) and their section (8 sections), 4,000 drawn at random (seeded)."""
    table, _ = tables.packages(work, text=True)
    with open(table, newline="") as f:
        rows = [(r["description"], r["label"]) for r in csv.DictReader(f) if r["description"].strip()]
    keep = np.random.default_rng(SEED).choice(len(rows), min(4000, len(rows)), replace=False)
    made = _write(work / "descriptions.csv", ["text", "label"], [list(rows[i]) for i in sorted(keep)])
    return _flipped_table(made, "label", work, share)


def emoji_names(work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    """unicode-data's emoji names (text: 'grinning face', 'flag: Germany', 'waving hand: medium skin tone') and their
    Unicode group (9 groups)."""
    from lamina.datasets.emoji import EMOJI_TEST, SKIP_GROUPS

    rows, group = [], None
    for line in EMOJI_TEST.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif group and "; fully-qualified" in line and group not in SKIP_GROUPS:
            rows.append([line.split("#", 1)[1].split(" ", 3)[3].strip(), group])  # "# 😀 E1.0 grinning face"
    made = _write(work / "emoji-names.csv", ["text", "label"], rows)
    return _flipped_table(made, "label", work, share)


def penguins(work: Path, share: float) -> tuple[Path, set[str], list[str]]:
    table, label = tables.penguins(work)
    return _flipped_table(table, label, work, share)


SETS = {
    "digits": digits,
    "emoji-images": emoji_images,
    "fortunes": fortunes,
    "descriptions": package_descriptions,
    "emoji-names": emoji_names,
    "penguins": penguins,
}


def score(review: Path, flipped: set[str]) -> dict:
    """The flagged set's precision and recall, precision@k of the review's order and of the plain one."""
    with open(review, newline="") as f:
        rows = list(csv.DictReader(f))
    k = len(flipped)
    flagged = [r["input"] for r in rows if r["suspect"] == "true"]
    plain = sorted(rows, key=lambda r: float(r["model_score"]))
    hits = lambda names: sum(n in flipped for n in names)  # noqa: E731
    return {
        "n": len(rows),
        "flipped": k,
        "flagged": len(flagged),
        "precision": hits(flagged) / max(1, len(flagged)),
        "recall": hits(flagged) / max(1, k),
        "p_at_k": hits([r["input"] for r in rows[:k]]) / max(1, k),
        "plain_p_at_k": hits([r["input"] for r in plain[:k]]) / max(1, k),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--share", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3, help="lamina review --repeats")
    args = ap.parse_args()
    print(
        "| dev set | samples | flipped | flagged | precision | recall | precision@k | plain precision@k | weight | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            data, flipped, settings = SETS[name](Path(tmp), args.share)
            t0 = time.perf_counter()
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lamina",
                    "review",
                    str(data),
                    "--output",
                    f"{tmp}/review.csv",
                    "--json",
                    "--repeats",
                    str(args.repeats),
                    *settings,
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                sys.exit(r.stderr[-3000:])
            s = score(Path(tmp) / "review.csv", flipped)
            weight = json.loads(r.stdout)["neighbour_weight"]
            print(
                f"| {name} | {s['n']} | {s['flipped']} | {s['flagged']} | {s['precision']:.3f} | {s['recall']:.3f} "
                f"| {s['p_at_k']:.3f} | {s['plain_p_at_k']:.3f} | {weight:.2f} | {time.perf_counter() - t0:.0f} |"
            )
    print(f"\n{machine_line()}")


if __name__ == "__main__":
    main()
