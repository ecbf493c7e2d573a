"""What a table model takes as a row to answer: every column named, a number column's value a number, a category
column's value one training saw; null (or an empty cell) for a value the client does not have. Training and
evaluation data are read leniently instead: a test row may hold a category the train rows never did."""

import math

import numpy as np
import pytest

from lamina.data.table_data import RowRefused, TablePreprocess

PREP = TablePreprocess(
    (
        {"name": "size", "kind": "number", "median": 0.0, "scale": 1.0},
        {"name": "shop", "kind": "category", "values": ["north", "south", "3"]},
        {"name": "city", "kind": "category", "values": ["x"], "open": True},  # more values than the model keeps
    ),
    "label",
)


def test_a_row_with_every_column_is_answered_and_null_is_missing():
    row = PREP.row({"size": 2, "shop": "south", "city": "x", "extra": "left alone"})
    assert row.tolist() == [2.0, 2.0, 1.0]
    row = PREP.row({"size": None, "shop": None, "city": ""})
    assert math.isnan(row[0]) and row[1:].tolist() == [0.0, 0.0]


def test_a_column_left_out_is_refused_by_name():
    with pytest.raises(RowRefused, match=r"row 3: column 'shop' not given; send null"):
        PREP.row({"size": 1, "city": "x"}, "row 3")
    with pytest.raises(RowRefused, match=r"columns 'size', 'shop', 'city' not given"):
        PREP.row({"sise": 1})


def test_an_unseen_category_is_refused_unless_the_column_keeps_only_its_most_frequent_values():
    with pytest.raises(RowRefused, match=r"column 'shop' never held 'west' in training \(3 values: 'north'"):
        PREP.row({"size": 1, "shop": "west", "city": "x"})
    assert PREP.row({"size": 1, "shop": "north", "city": "elsewhere"})[2] == 0.0  # the shared index of the rest
    assert PREP.row({"size": 1, "shop": 3.0, "city": "x"})[1] == 3.0  # a JSON number as the table spelt it


def test_training_data_reads_unseen_categories_and_bad_numbers_as_missing():
    row = PREP.row({"size": "lots", "shop": "west"}, strict=False)
    assert math.isnan(row[0]) and row[1] == 0.0


def test_a_wrong_type_is_refused_by_column():
    with pytest.raises(RowRefused, match="column 'size' holds numbers, got 'lots'"):
        PREP.row({"size": "lots", "shop": "north", "city": "x"})
    with pytest.raises(RowRefused, match="column 'shop' holds a list"):
        PREP.row({"size": 1, "shop": ["north"], "city": "x"})
    assert np.isnan(PREP.row({"size": float("inf"), "shop": "north", "city": "x"})[0])


def test_a_text_cell_is_the_ids_of_its_distinct_words_and_word_pairs():
    from lamina.data.hashed_text import term_ids, term_slots

    ids = term_ids("The cat saw the CAT", 8, buckets=1 << 16)
    # the, cat, saw + "the cat", "cat saw", "saw the" (the repeated words and the repeated pair counted once)
    assert np.count_nonzero(ids) == 6 and ids[6:].tolist() == [0.0, 0.0] and ids.max() <= 1 << 16
    assert np.array_equal(ids, term_ids("the cat, saw; the cat!", 8, buckets=1 << 16))  # words, not punctuation
    assert not term_ids("", 8).any() and np.count_nonzero(term_ids("a b c d e f", 4)) == 4  # the first terms kept
    assert term_slots(["a b c"] * 50) == 16  # at least FEWEST_TERMS
    assert term_slots([" ".join(f"w{i}" for i in range(40))] * 50) == 128  # 79 terms: the next power of two
    assert term_slots([" ".join(f"w{i}" for i in range(400))]) == 256  # at most TEXT_TERMS


def test_a_row_holds_a_text_as_term_ids_and_refuses_ids_out_of_range():
    prep = TablePreprocess(({"name": "note", "kind": "text", "width": 16, "buckets": 64},), "label")
    row = prep.row({"note": "dark fruit"})
    assert np.count_nonzero(row) == 3 and row.max() <= 64 and not prep.row({"note": None}).any()
    assert prep.out_of_range(np.array([[65.0] + [0.0] * 15], np.float32)) == "column 'note' holds term ids 0..64"
    assert prep.out_of_range(np.array([[1.5] + [0.0] * 15], np.float32)) is not None
    assert prep.out_of_range(row[None]) is None
