"""Export: the model package's network as an ONNX graph, checked against eager PyTorch."""
