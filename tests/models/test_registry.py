"""The public register(): a user's model joins the built-ins, whichever call comes first."""

import subprocess
import sys

SCRIPT = """
from lamina.models.registry import ModelSpec, register, registered
from lamina.models import mlp
register("mine", ModelSpec(mlp.build, mlp.DEFAULTS))
models = registered()
assert "mine" in models and "resnet-small" in models and "minilm" in models, sorted(models)
try:
    register("resnet-small", ModelSpec(mlp.build, mlp.DEFAULTS))
except ValueError as e:
    assert "already registered" in str(e)
else:
    raise AssertionError("a built-in name was registered twice")
print(len(models))
"""


def test_register_before_registered_keeps_the_built_ins():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)  # a fresh registry
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) >= 10  # nine built-ins and the user's
