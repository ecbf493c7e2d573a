"""Exporting: the model package's network as an ONNX graph, checked against eager PyTorch, and int8 quantization.

The subpackage is ``exporting`` so that ``lamina.export`` stays the public function (as ``training`` leaves
``lamina.train``).
"""
