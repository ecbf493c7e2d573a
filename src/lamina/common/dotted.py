"""Dotted keys ("train.lr") over nested config dicts."""

from __future__ import annotations


def set_dotted(raw: dict, key: str, value) -> None:
    """raw["train"]["lr"] = value for key "train.lr", making the stages that are missing."""
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def flatten(d: dict, prefix: str = "") -> dict:
    """{"train.lr": 0.003, ...} from a nested config dict."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
