"""No silent garbage: a table without free text trains a table model (not a text model of one category column), the
columns a model ignores are named, and every listing of problems is bounded wherever it is printed, through the
real CLI."""

import csv
import json

import numpy as np

from helpers import run_cli, topic_texts

PRINTED_LIMIT = 4096  # bytes a command may print about a table where every row duplicates another


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _customers(path, n=600):
    """Categories and numbers only, with a yes/no label (like a churn table)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        contract = ["Month-to-month", "One year", "Two year"][i % 3]
        rows.append(
            [
                f"{rng.integers(1000, 9999)}-C{i:05d}",
                ["Male", "Female"][int(rng.integers(2))],
                int(rng.integers(0, 73)),
                contract,
                ["Electronic check", "Mailed check", "Bank transfer (automatic)"][int(rng.integers(3))],
                round(float(rng.uniform(18, 120)), 2),
                "Yes" if contract == "Month-to-month" and rng.random() < 0.6 else "No",
            ]
        )
    header = ["customerID", "gender", "tenure", "Contract", "PaymentMethod", "MonthlyCharges", "Churn"]
    return _write(path, header, rows)


def _prices(path, n=400):
    """Measurements and graded categories with a numeric label (like a price table)."""
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(n):
        carat, cut = float(rng.uniform(0.2, 3)), ["Fair", "Good", "Very Good", "Premium", "Ideal"][int(rng.integers(5))]
        rows.append([round(carat, 2), cut, "DEFGHIJ"[int(rng.integers(7))], round(carat * 4000 + rng.normal(0, 300))])
    return _write(path, ["carat", "cut", "color", "price"], rows)


def test_a_table_of_categories_and_numbers_trains_a_table_model_naming_its_columns(tmp_path):
    data = _customers(tmp_path / "customers.csv")
    run = tmp_path / "run"
    r = run_cli("train", data, "--output", run, "--set", "data.label_column=Churn", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "columns read: 'gender' (category), 'tenure' (number), 'Contract' (category)" in r.stderr
    assert "customerID: an identifier" in r.stderr and "Traceback" not in r.stderr
    test = json.loads(r.stdout)["metrics"]["test"]
    assert test["macro_f1"] >= 0.6  # the majority class alone scores 0.44: the contract type is read
    # naming a category column as the text asks for a text model, and is refused with what it holds
    r = run_cli(
        "train", data, "--output", tmp_path / "text-run", "--set", "data.label_column=Churn",
        "--set", "data.text_column=PaymentMethod",
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "column 'PaymentMethod' is not free text: it holds categories (3 distinct values in 600 rows" in r.stderr
    r = run_cli("validate", data, "--set", "data.label_column=Churn", "--json")
    assert r.returncode == 0, r.stdout
    use = json.loads(r.stdout)["columns"]
    assert use["read"]["MonthlyCharges"] == "number" and use["label"] == "Churn" and use["ignored"] == ["customerID"]


def test_a_table_of_measurements_with_a_numeric_label_trains_a_regressor(tmp_path):
    data = _prices(tmp_path / "prices.csv")
    r = run_cli("train", data, "--output", tmp_path / "run", "--set", "data.label_column=price", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["metrics"]["test"]["r2"] >= 0.8  # price is carat * 4000 plus noise


def test_a_table_of_a_text_and_other_columns_reads_them_all(tmp_path):
    rng = np.random.default_rng(2)
    rows = [
        (t, label, f"P{rng.integers(1, 9)}", ["low", "high"][i % 2]) for i, (t, label) in enumerate(topic_texts(30))
    ]
    data = _write(tmp_path / "tickets.csv", ["text", "label", "product", "priority"], rows)
    run = tmp_path / "run"
    r = run_cli("train", data, "--output", run, "--set", "train.epochs=1")
    assert r.returncode == 0, r.stderr
    assert "columns read: 'text' (text), 'product' (category), 'priority' (category), 'label' (label)" in r.stderr
    summary = json.loads((run / "data.json").read_text())
    assert summary["modality"] == "table" and summary["use"]["ignored"] == []
    report = (run / "report.html").read_text()
    assert "<code>product</code> (category)" in report and "ignored: none" in report
    r = run_cli("validate", data, "--json")
    assert json.loads(r.stdout)["columns"]["read"] == {"text": "text", "product": "category", "priority": "category"}
    # a text model reads the text alone, and names the columns it ignores
    r = run_cli(
        "train", data, "--output", tmp_path / "text-run", "--set", "train.epochs=1", "--set", "data.modality=text"
    )
    assert r.returncode == 0, r.stderr
    assert "columns read: 'text' (text), 'label' (label); ignored: product, priority" in r.stderr
    assert "ignores 2 other column(s): product, priority" in r.stderr


def _duplicated(path, distinct=700, copies=3):
    """Free text where every row duplicates two others, under conflicting labels, plus rows with empty texts."""
    rng = np.random.default_rng(3)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike oscar papa".split()
    texts = [" ".join(rng.choice(words, 9)) + f" {i}" for i in range(distinct)]
    rows = [(texts[i % distinct], ["x", "y"][int(rng.integers(2))]) for i in range(distinct * copies)]
    rows += [("", "x")] * 300  # bad rows, skipped with --skip-bad
    return _write(path, ["text", "label"], rows)


def test_listings_of_problems_are_bounded_and_complete_in_a_file(tmp_path):
    data = _duplicated(tmp_path / "dups.csv")
    full = tmp_path / "problems.jsonl"
    r = run_cli("validate", data, "--output", full)
    assert r.returncode == 2  # the empty rows are errors for validate
    assert len(r.stdout.encode()) + len(r.stderr.encode()) < PRINTED_LIMIT, r.stdout
    assert max(map(len, r.stdout.splitlines())) < 1000
    assert "300 files or rows cannot be used" in r.stdout and "... and 295 more (all in" in r.stdout
    lines = [json.loads(line) for line in full.read_text().splitlines()]
    by_kind = {k: [x for x in lines if x["kind"] == k] for k in {x["kind"] for x in lines}}
    assert len(by_kind["bad-files"]) == 300 and len(by_kind["conflicting-labels"]) > 100
    as_json = json.loads(run_cli("validate", data, "--json").stdout)
    conflicts = next(w for w in as_json["warnings"] if w["kind"] == "conflicting-labels")
    assert conflicts["count"] == len(by_kind["conflicting-labels"]) and len(conflicts["paths"]) == 20

    run = tmp_path / "run"
    r = run_cli("train", data, "--output", run, "--skip-bad", "--set", "train.epochs=1")
    assert r.returncode == 0, r.stderr
    told = r.stderr[: r.stderr.index("frozen encoder")] if "frozen encoder" in r.stderr else r.stderr
    assert len(told.encode()) < PRINTED_LIMIT, told
    assert f"(all in {run / 'problems.jsonl'})" in r.stderr
    kept = [json.loads(line) for line in (run / "problems.jsonl").read_text().splitlines()]
    assert sum(x["kind"] == "skipped" for x in kept) == 300
    assert sum(x["kind"] == "conflicting-labels" for x in kept) == len(by_kind["conflicting-labels"])
    checks = json.loads((run / "data.json").read_text())["checks"]
    assert all(len(c.get("paths", [])) <= 20 and all(len(p) < 300 for p in c.get("paths", [])) for c in checks)


def test_a_group_of_many_copies_is_one_short_line(tmp_path):
    # 1,000 rows of two long texts: each text is one group of 500 copies spanning every split
    rows = [(f"{['the first', 'the second'][i % 2]} text of this table, long enough to be free text", "xy"[i % 3 % 2])
            for i in range(1000)]  # fmt: skip
    data = _write(
        tmp_path / "two.csv", ["text", "label"], rows + [(f"a distinct text number {i}", "x") for i in range(3000)]
    )
    r = run_cli("validate", data)
    assert len(r.stdout.encode()) < PRINTED_LIMIT, r.stdout
    assert "500 copies: row " in r.stdout
