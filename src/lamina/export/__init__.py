"""Export: the model package's network as an ONNX graph, checked against eager PyTorch.

``lamina.export(model)`` is the public API call (lamina/__init__.py), and importing this
subpackage rebinds the name ``lamina.export`` to the module; so the module itself answers a
call the same way, whichever of the two the name holds.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, model, format: str = "onnx", quantize: str | None = None) -> dict:
        """Write and parity-check model.onnx in a model package (and model.int8.onnx); see :func:`lamina.api.export`."""
        from lamina import api

        return api.export(model, format=format, quantize=quantize)


sys.modules[__name__].__class__ = _CallableModule
