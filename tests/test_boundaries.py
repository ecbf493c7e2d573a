"""The guide's layering: imports only point left (common -> data -> models -> training -> export -> serve ->
explaining, which reads packages through the server's ONNX Runtime predictor)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "lamina"
ORDER = ["common", "data", "models", "training", "exporting", "serve", "explaining"]  # the guide's layers
# Top-level modules that sit above every layer (they may import any of them; no layer imports them): the API,
# the CLI and the dataset makers.
TOP = {"api", "cli", "datasets", "__init__", "__main__"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m == "lamina" or m.startswith("lamina.")}


def test_layers_import_only_leftwards():
    bad = []
    checked = 0
    for path in SRC.rglob("*.py"):
        layer = path.relative_to(SRC).parts[0].removesuffix(".py")
        if layer in TOP:
            continue
        assert layer in ORDER, f"{path}: module outside the known layers {ORDER}"
        checked += 1
        for mod in _imports(path):
            parts = mod.split(".")
            if len(parts) == 1:  # the package root is the API: no layer imports it (its version lives in common)
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
                continue
            target = parts[1]
            if target in TOP:
                bad.append(f"{path.relative_to(SRC)} imports {mod} (layers must not import the API/CLI)")
            elif ORDER.index(target) > ORDER.index(layer):
                bad.append(f"{path.relative_to(SRC)} imports {mod} ({layer} may not import {target})")
    assert checked > 10
    assert not bad, "\n".join(bad)


def test_cli_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from lamina.cli.main import _parser; _parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
