"""Bounded listings of problems: the one rule for how much of a list of problems is shown.

A problem is a dict {"level", "kind", "message"[, "paths", "count"]} (lamina.data.checks, skipped files, bad
rows). Its "paths" may hold every item while it is in memory; wherever it is printed or put in a summary, only the
count and the first few items are kept, each cut to about a line, and the whole list goes to a file beside it
(``problems.jsonl`` in a run directory, or the file ``lamina validate --output`` names). A table in which every
row duplicates another then prints a few lines, not hundreds of kilobytes.
"""

from __future__ import annotations

import json
from pathlib import Path

from lamina.common.files import atomic_write_text

PRINTED = 5  # items printed under a problem on a terminal
KEPT = 20  # items kept in a JSON summary (data.json, validate --json)
LINE = 200  # characters of one item, printed or kept; the file has it whole
NAMES_SHOWN = 10  # names (columns, classes) in one message
PROBLEMS_FILE = "problems.jsonl"  # a run directory's full list: one line per item


def shorten(text: str, limit: int = LINE) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} ... ({len(text) - limit:,} more characters)"


def names(items: list[str], shown: int = NAMES_SHOWN) -> str:
    """'a, b, c' for a few names; 'a, b, ... and 40 more' for many."""
    head = ", ".join(str(i) for i in items[:shown])
    return head if len(items) <= shown else f"{head} and {len(items) - shown:,} more"


def group(members: list[str], sep: str) -> str:
    """One item that stands for a group of copies: 'row 2 = row 4 = row 9', or for more than three members
    '1,500 copies: row 2 = row 4 = ...' so that the count survives when a listing cuts the item short."""
    joined = sep.join(members)
    return joined if len(members) <= 3 else f"{len(members):,} copies: {joined}"


def problem(level: str, kind: str, message: str, items: list[str] | None = None) -> dict:
    """A problem with every item (``paths``) and their count."""
    out = {"level": level, "kind": kind, "message": message}
    if items:
        out["paths"] = list(items)
        out["count"] = len(items)
    return out


def bounded(p: dict, kept: int = KEPT) -> dict:
    """``p`` as a summary holds it: its count and first ``kept`` items, each cut to a line."""
    out = {**p, "message": shorten(p["message"], 4 * LINE)}
    if "paths" in p:
        out["paths"] = [shorten(str(x)) for x in p["paths"][:kept]]
        out["count"] = p.get("count", len(p["paths"]))
    return out


def printed_lines(p: dict, shown: int = PRINTED, where: str | None = None) -> list[str]:
    """The lines a terminal shows for ``p``: its message, the first ``shown`` items, and how many more there are
    (and ``where`` the full list is: 'all in runs/x/problems.jsonl')."""
    p = bounded(p, shown)
    lines = [f"{p['level']}: {p['message']}"] + [f"  {x}" for x in p.get("paths", [])]
    more = p.get("count", 0) - len(p.get("paths", []))
    if more > 0:
        lines.append(f"  ... and {more:,} more" + (f" ({where})" if where else ""))
    return lines


def write_full(path: str | Path, problems: list[dict]) -> Path:
    """Every item of every problem, one JSON object per line: {"level", "kind", "message", "item"} (or no "item"
    for a problem without items)."""
    lines = []
    for p in problems:
        head = {"level": p["level"], "kind": p["kind"], "message": p["message"]}
        items = p.get("paths") or [None]
        lines += [json.dumps({**head, **({"item": x} if x is not None else {})}) for x in items]
    path = Path(path)
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return path


def use_line(use: dict) -> str:
    """ "columns read: 'text' (text), 'label' (label); ignored: product, priority" for a table's column use
    (lamina.data.prepared.PreparedData.column_use)."""
    read = ", ".join(f"'{c}' ({kind})" for c, kind in use["read"].items())
    ignored = f"; ignored: {names(use['ignored'])}" if use["ignored"] else ""
    return f"columns read: {read}, '{use['label']}' (label){ignored}"
