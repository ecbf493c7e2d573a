"""Serving: model packages behind an HTTP server, on ONNX Runtime. Never imports torch."""
