"""The house rules the guide states, as tests: short functions and files, and no code outside a modality's own
modules that asks which modality it holds (by name, type, or a tensor's rank or dtype).

Count the modality questions yourself: ``python tests/test_house_rules.py`` prints each one with its line.
"""

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "lamina"
MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 400

# The modality modules: each is one modality's own (its preprocessing, data path, torch twin, networks), or the
# interface and registry that name them all. Everything else asks the modality object.
MODALITY_MODULES = {
    "data/modality.py",
    "data/image.py",
    "data/image_facts.py",
    "data/pixel_rows.py",
    "data/audio.py",
    "data/mel.py",
    "data/text_data.py",
    "data/text_splits.py",
    "data/table_data.py",
    "data/table_splits.py",
    "data/hashed_text.py",
    "data/table_files.py",
    "models/file_columns.py",
    "data/column_kinds.py",  # the kinds of a table's columns (free text among them), which text and table models read
    "models/tabular.py",
    "models/modality.py",
}
# Functions outside them that compare a dtype for another reason than telling modalities apart, and why.
NOT_QUESTIONS = {
    ("serve/runtime.py", "check_batch"): "a request's tensor against the dtype the graph declares",
    ("explaining/sanity.py", "randomised_network"): "a weight's rank: He initialisation redraws matrices, not biases",
    ("explaining/sanity.py", "randomised_graph"): "a weight's rank: He initialisation redraws matrices, not biases",
    ("models/attribution.py", "note_feature_map"): "a layer's output with channels and positions: Grad-CAM's map",
    ("models/network.py", "per_member"): "outputs with an ensemble's member axis, in any modality",
    ("models/network.py", "ensemble_answer"): "outputs with an ensemble's member axis, in any modality",
}
MODALITY_NAMES = {"image", "audio", "text"}
MODALITY_CLASSES = {"ImagePreprocess", "AudioPreprocess", "TextPreprocess", "ImageTorch", "AudioTorch", "TextTorch"}


def _sources():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), path.read_text()


def _is_rank_or_dtype(node: ast.AST) -> bool:
    """A tensor's rank (``x.dim()``) or anything's ``.dtype``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dim":
        return True
    return isinstance(node, ast.Attribute) and node.attr == "dtype"


def _names_a_modality(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value in MODALITY_NAMES:
        return True
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_names_a_modality(e) for e in node.elts)


def _functions(tree: ast.AST) -> dict[int, str]:
    """line -> the name of the innermost function holding it."""
    where = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for line in range(node.lineno, node.end_lineno + 1):
                if line not in where or where[line][0] < node.lineno:
                    where[line] = (node.lineno, node.name)
    return {line: name for line, (_, name) in where.items()}


def modality_questions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every place ``tree`` asks which modality it holds."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "text_fields":
            found.append((node.lineno, "text_fields"))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_a_modality(s) for s in sides):
                found.append((node.lineno, "compares with a modality's name"))
            elif any(_is_rank_or_dtype(s) for s in sides):
                found.append((node.lineno, "compares a tensor's rank or dtype"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            kinds = node.args[1] if len(node.args) > 1 else None
            named = {n.id for n in ast.walk(kinds) if isinstance(n, ast.Name)} if kinds is not None else set()
            if named & MODALITY_CLASSES:
                found.append((node.lineno, f"isinstance with {sorted(named & MODALITY_CLASSES)}"))
    return sorted(found)


def all_modality_questions() -> list[str]:
    """Every modality question outside the modality modules, as "path:line: what"."""
    out = []
    for name, text in _sources():
        if name in MODALITY_MODULES:
            continue
        tree = ast.parse(text)
        functions = _functions(tree)
        out += [
            f"src/lamina/{name}:{line}: {what}"
            for line, what in modality_questions(tree)
            if (name, functions.get(line)) not in NOT_QUESTIONS
        ]
    return out


def test_no_code_outside_the_modality_modules_asks_which_modality():
    assert all_modality_questions() == []


def test_the_modality_question_finder_finds_each_kind_of_question():
    code = """
if x.dim() == 4: pass
if batch.dtype == np.int64: pass
if prep.name == "text": pass
if modality in ("auto", "image"): pass
if isinstance(prep, TextPreprocess): pass
if model.prep.text_fields: pass
if spec["name"] != graph_name: pass
"""
    whats = [what for _, what in modality_questions(ast.parse(code))]
    assert len(whats) == 6 and "text_fields" in whats


def test_functions_and_files_are_short():
    long = []
    for name, text in _sources():
        lines = text.count("\n")
        if lines > MAX_FILE_LINES:
            long.append(f"{name}: {lines} lines (at most {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{name}:{node.lineno} {node.name}: {size} lines (at most {MAX_FUNCTION_LINES})")
    assert not long, "\n".join(long)


if __name__ == "__main__":
    questions = all_modality_questions()
    print("\n".join(questions) or "none", file=sys.stderr)
    print(len(questions))


def test_the_names_config_and_packages_accept_are_the_registries():
    """common/ cannot import the registries (they sit in later layers), so its Literals repeat their names: this
    keeps the two lists one."""
    from typing import get_args

    from lamina.common.config import DataConfig
    from lamina.common.package import TaskSection
    from lamina.data.modality import MODALITIES
    from lamina.data.task import TASK_KINDS

    assert set(get_args(DataConfig.model_fields["modality"].annotation)) == {"auto", *MODALITIES}
    assert set(get_args(DataConfig.model_fields["task"].annotation)) == {"auto", *TASK_KINDS}
    assert set(get_args(TaskSection.model_fields["kind"].annotation)) == set(TASK_KINDS)
    from lamina.common.package import PackageMeta

    assert set(get_args(PackageMeta.model_fields["modality"].annotation)) == set(MODALITIES)
