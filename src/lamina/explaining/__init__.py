"""Explanations of a model package's answers (lamina explain): occlusion through ONNX Runtime, per modality."""
