"""What a config error says: the key, what was expected, what was received, and the closest valid key (with the
names other tools use for ours)."""

from __future__ import annotations

from lamina.common.errors import did_you_mean

# Names other tools use for our keys, so "did you mean" can bridge the vocabulary.
KEY_ALIASES = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "max_lr": "lr",
    "batchsize": "batch_size",
    "bs": "batch_size",
    "num_epochs": "epochs",
    "max_epochs": "epochs",
    "n_epochs": "epochs",
    "random_seed": "seed",
    "architecture": "name",
    "arch": "name",
    "optimizer_schedule": "schedule",
    "lr_schedule": "schedule",
    "scheduler": "schedule",
    "clip_grad_norm": "grad_clip",
    "gradient_clipping": "grad_clip",
    "patience": "early_stopping",
    "dtype": "precision",
    "mixed_precision": "precision",
    "img_size": "image_size",
    "size": "image_size",
}


def closest_key(key: str, keys: list[str]) -> str:
    """ " (did you mean 'train.lr'?)" for a mistyped dotted key, or "" when nothing is close."""
    prefix, _, leaf = key.rpartition(".")
    siblings = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == prefix]
    if siblings:
        names = siblings + [a for a, target in KEY_ALIASES.items() if target in siblings]
        hit = did_you_mean(leaf, names)
        if hit:
            word = hit.split("'")[1]
            return f" (did you mean '{(prefix + '.' if prefix else '') + KEY_ALIASES.get(word, word)}'?)"
        return ""
    return did_you_mean(key, [k for k in keys if "." in k])


def _error_key(err: dict) -> str:
    """The dotted key of a validation error, without pydantic's union-branch tags ('int', "literal['auto']")."""
    return ".".join(
        str(p)
        for p in err["loc"]
        if not (isinstance(p, str) and (p in ("int", "float", "str", "bool") or "[" in p or "-" in p))
    )


def format_errors(errors: list[dict], source: str, keys: list[str]) -> str:
    """One line per bad key; the branches of a union (e.g. an integer or 'auto') joined by 'or'."""
    by_key: dict[str, list[dict]] = {}
    for err in errors:
        by_key.setdefault(_error_key(err), []).append(err)
    lines = []
    for key, errs in by_key.items():
        if errs[0]["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'{closest_key(key, keys)}")
        else:
            lines.append(
                f"{source}: {key}: {' or '.join(e['msg'].lower() for e in errs)}; got {errs[0].get('input')!r}"
            )
    return "\n".join(lines)
