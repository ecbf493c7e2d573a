"""Labeled text tables (CSV, TSV, JSONL, Parquet): column inference and every bad-row path."""

import json

import pytest

from lamina.common.errors import DataError, LaminaError
from lamina.datasets.makers import FORTUNE_CATEGORIES, make_dataset, read_fortunes
from lamina.data.text import read_text_table

ROWS = [
    ("the cat sat on the mat", "pets"),
    ("stocks fell sharply today", "news"),
    ("a dog chased the ball", "pets"),
    ("markets rallied after the report", "news"),
]


def test_csv_with_named_columns_and_quoted_newlines(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('text,label\n"two\nlines",pets\n' + "".join(f"{t},{label}\n" for t, label in ROWS), encoding="utf-8")
    t = read_text_table(p)
    assert (t.text_column, t.label_column) == ("text", "label")
    # rows as an editor counts them
    assert t.texts[0] == "two\nlines" and t.labels[:2] == ["pets", "pets"] and t.rows[:2] == [3, 4]


def test_tsv_jsonl_and_parquet(tmp_path):
    (tmp_path / "t.tsv").write_text("sentence\tcategory\n" + "".join(f"{t}\t{label}\n" for t, label in ROWS))
    (tmp_path / "t.jsonl").write_text(
        "".join(json.dumps({"body": t, "stars": s, "id": i}) + "\n" for i, (t, s) in enumerate(ROWS))
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"review": [t for t, _ in ROWS], "sentiment": [s for _, s in ROWS]}), tmp_path / "t.parquet"
    )
    assert read_text_table(tmp_path / "t.tsv").label_column == "category"
    j = read_text_table(tmp_path / "t.jsonl")
    assert (j.text_column, j.label_column) == ("body", "stars")
    q = read_text_table(tmp_path / "t.parquet")
    assert (q.text_column, q.label_column, len(q.texts)) == ("review", "sentiment", 4)


def test_columns_inferred_by_content_when_names_say_nothing(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b\n" + "".join(f"{label},{t} {i}\n" for i, (t, label) in enumerate(ROWS * 3)))
    t = read_text_table(p)
    assert (t.text_column, t.label_column) == ("b", "a")


def test_explicit_columns_and_did_you_mean(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("body,stars\n" + "".join(f"{t},{label}\n" for t, label in ROWS))
    assert read_text_table(p, text_column="body", label_column="stars").label_column == "stars"
    with pytest.raises(DataError, match=r"no label column 'star' \(did you mean 'stars'\?\)"):
        read_text_table(p, label_column="star")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"text,label\nok text,pets\n,news\nmore,pets\n", r"row 3: empty text in column 'text'"),
        (b"text,label\nok text,pets\nno label,\nmore,news\n", r"row 3: missing label in column 'label'"),
        (b"text,label\nfine,pets\ncaf\xe9,news\n", r"row 3: not valid UTF-8 \(byte 0xe9"),
        (b"text,label\nfine,pets,extra\n", r"row 2: 3 fields, the header has 2"),
        (b"text,label\nonly,pets\nthe same,pets\n", r"holds 1 label"),
    ],
)
def test_bad_rows_name_the_row(tmp_path, content, message):
    p = tmp_path / "t.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_text_table(p)


def test_skip_bad_lists_the_rows(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"text": "a b", "label": "x"},
                {"text": "", "label": "y"},
                {"text": "c d", "label": "y"},
                {"text": "e f", "label": None},
            ]
        )
    )
    t = read_text_table(p, skip_bad=True)
    assert t.texts == ["a b", "c d"] and [s["path"].rsplit(":", 1)[1] for s in t.skipped] == ["2", "4"]


def test_fortunes_maker_reads_categories_and_never_off(tmp_path):
    src = tmp_path / "fortunes"
    (src / "off").mkdir(parents=True)
    for c in FORTUNE_CATEGORIES:
        (src / c).write_text(f"first {c} quote\nsecond line\n%\nanother {c} quote\n%\n")
    (src / "off" / "art").write_text("never read\n%\n")
    summary = make_dataset("fortunes", tmp_path / "out" / "f.csv", source=str(src))
    assert summary["counts"] == {c: 2 for c in FORTUNE_CATEGORIES}
    t = read_text_table(tmp_path / "out" / "f.csv")
    assert len(t.texts) == 20 and "first art quote\nsecond line" in t.texts and not any("never" in x for x in t.texts)
    assert read_fortunes(src / "art") == ["first art quote\nsecond line", "another art quote"]
    with pytest.raises(LaminaError, match="apt-get install fortunes"):
        make_dataset("fortunes", tmp_path / "x.csv", source=str(tmp_path / "nowhere"))
