"""docs/configuration.md is the schema's own account of every key: regenerated, it is unchanged."""

from pathlib import Path

from lamina.common.config import CONFIG_KEYS
from lamina.common.config_reference import reference_markdown, type_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_reference_in_docs_is_current():
    assert DOC.read_text() == reference_markdown(), (
        "docs/configuration.md is stale: python -m lamina.common.config_reference > docs/configuration.md"
    )


def test_every_key_is_in_the_reference_with_a_meaning():
    text = reference_markdown()
    rows = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    leaves = [k for k in CONFIG_KEYS if not any(other.startswith(k + ".") for other in CONFIG_KEYS)]
    assert sorted(rows) == sorted(leaves)
    assert all(not row.rstrip().endswith("|  |") for row in rows.values())  # the meaning cell is never empty


def test_type_names_read_as_a_user_writes_them():
    from typing import Literal

    assert type_name(int | None) == "integer or null"
    assert type_name(Literal["auto", "bf16"]) == '"auto" | "bf16"'
