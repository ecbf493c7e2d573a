"""What a table column holds (numbers, categories, identifiers, free text), read from its cells."""

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
