"""What a table column holds (numbers, categories, identifiers, free text, image or audio files), read from its
cells; which table files the table modality claims."""

import pytest

from lamina.data.column_kinds import column_facts

SENTENCES = [f"customer {i} wrote that the parcel arrived {['late', 'early', 'broken'][i % 3]}" for i in range(60)]


@pytest.mark.parametrize(
    "values, kind",
    [
        (["1.5", "2", "-3e2", "7", ""] * 10, "number"),
        ([1, 2.5, 3, None] * 10, "number"),  # JSON/Parquet values
        (["Month-to-month", "One year", "Two year"] * 20, "category"),
        ([True, False] * 20, "category"),
        (["Yes", "No", "No"] * 20, "category"),
        ([f"{1000 + i}-VHVEG{i}" for i in range(40)], "identifier"),
        (SENTENCES, "text"),
        (["bonjour", "hello", "hola", "ciao", "hallo", "salut"] * 1 + [f"word{i}x" for i in range(3)], "text"),
        ([None, "", "  "], "empty"),
        ([f"photos/{i}.JPG" for i in range(40)] + [""], "image"),  # unique, one word, digits: still pictures
        ([f"clips/{i}.wav" for i in range(40)], "audio"),
        ([f"photos/{i}.png" for i in range(10)] + [f"notes {i}.txt" for i in range(10)], "text"),
    ],
)
def test_kinds(values, kind):
    assert column_facts("c", values).kind == kind


def test_long_texts_repeated_are_still_text():
    # every text twice: duplicates (a warning of their own), not categories
    assert column_facts("c", SENTENCES * 2).kind == "text"


def test_description_says_the_figures_that_decided():
    facts = column_facts("Contract", ["Month-to-month", "One year", "Two year"] * 700)
    assert facts.describe() == (
        "categories (3 distinct values in 2,100 rows, e.g. 'Month-to-month', 'One year', 'Two year')"
    )


def _csv(path, header, rows):
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path


def test_a_manifest_is_files_and_a_table_of_files_and_facts_is_a_table(tmp_path):
    from lamina.common.config import DataConfig
    from lamina.data.modality import table_modality

    (tmp_path / "a.png").write_bytes(b"")
    claimed = lambda p: getattr(table_modality(DataConfig(path=str(p))), "name", None)  # noqa: E731
    assert claimed(_csv(tmp_path / "m.csv", ["path", "label", "split"], [["a.png", "x", "train"]])) is None
    assert claimed(_csv(tmp_path / "h.csv", ["a.png", "x"], [["a.png", "y"]])) is None  # no header: a manifest
    assert claimed(_csv(tmp_path / "t.csv", ["photo", "price", "label"], [["a.png", "3", "x"]])) == "table"
