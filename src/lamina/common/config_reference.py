"""docs/configuration.md, generated from the config schema's field descriptions (a test keeps the file current).

python -m lamina.common.config_reference > docs/configuration.md
"""

from __future__ import annotations

import json
import types
import typing

from pydantic import BaseModel

from lamina.common.config import Config

BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}

INTRO = """# Configuration reference

Every key of a run's config, with its type, default and meaning; generated from the schema
(`python -m lamina.common.config_reference > docs/configuration.md`). A YAML file may hold any of the
stages; `--set a.b=v` overrides any key (the value is read as YAML). Unknown keys and bad values are
refused with the key, what was expected, what was received and the closest valid key. A run writes
the resolved config, every default and every inferred value filled in, to `RUN/config.yaml`.
"""


def type_name(annotation) -> str:
    """A field's type as a reader writes it: `auto | image`, `integer or null`, `list`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if annotation is type(None):
        return "null"
    names = {
        int: "integer",
        float: "number",
        str: "string",
        bool: "boolean",
        list: "list",
        dict: "mapping",
        tuple: "pair",
    }
    return names.get(origin or annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field) -> str:
    found = [f"{BOUNDS[k]} {getattr(m, k)}" for m in field.metadata for k in BOUNDS if getattr(m, k, None) is not None]
    return f" ({', '.join(found)})" if found else ""


def _cell(text: str) -> str:
    """Text for one table cell: a "|" of the text itself would end the cell."""
    return text.replace("\n", " ").replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows, nested = [], []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((prefix + name, ann))
            continue
        default = json.dumps(field.default) if not isinstance(field.default, BaseModel) else ""
        cells = [f"`{prefix}{name}`", type_name(ann) + _bounds(field), f"`{default}`", field.description or ""]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    table = ["| key | type | default | meaning |", "|---|---|---|---|", *rows] if rows else []
    out = [f"## {prefix.rstrip('.')}", "", (model.__doc__ or "").strip(), "", *table, ""]
    for key, sub in nested:
        out += _rows(sub, key + ".")
    return out


def reference_markdown() -> str:
    """The whole reference, one section per stage (data, data.augment, data.audio, model, train, track)."""
    lines = [INTRO]
    for name, field in Config.model_fields.items():
        lines += _rows(field.annotation, name + ".")
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
