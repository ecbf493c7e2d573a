"""Data: find samples on disk, decode them once, cache them, and serve tensors in batches."""
