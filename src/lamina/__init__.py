"""Lamina: labeled images, audio clips or texts in; a trained, evaluated, versioned network out.

The Python API mirrors the command line::

    import lamina
    run = lamina.train("data/digits", output="runs/digits")
    report = lamina.evaluate("runs/digits", "data/digits", split="test")
    lamina.load("runs/digits").predict(["data/digits/test/3/0001.png"])
    lamina.validate("data/digits")          # every problem of the data, without training
    lamina.export("runs/digits")            # model.onnx, parity-checked (train does it already)
    lamina.export("runs/digits", quantize="int8")  # and model.int8.onnx, kept within 0.5 points of val accuracy
    lamina.score("runs/digits", "photos/", "preds.csv")  # batch scoring through ONNX Runtime, resumable

Heavy imports (torch) happen on first use, so ``import lamina`` stays cheap.
"""

from lamina.common.version import __version__

__all__ = ["train", "evaluate", "load", "tune", "validate", "export", "score", "BatchScorer", "__version__"]


def train(data_or_config=None, *, output=None, overrides=None, **kwargs):
    """Train a model; see :func:`lamina.api.train`."""
    from lamina import api

    return api.train(data_or_config, output=output, overrides=overrides, **kwargs)


def evaluate(model, data, *, split=None, **kwargs):
    """Evaluate a trained model on labeled data; see :func:`lamina.api.evaluate`."""
    from lamina import api

    return api.evaluate(model, data, split=split, **kwargs)


def load(path, **kwargs):
    """Load a model package for prediction; see :func:`lamina.api.load`."""
    from lamina import api

    return api.load(path, **kwargs)


def tune(config, *, trials, **kwargs):
    """Hyperparameter search with Optuna; see :func:`lamina.api.tune`."""
    from lamina import api

    return api.tune(config, trials=trials, **kwargs)


def validate(data_or_config, **kwargs):
    """Check training data without training; see :func:`lamina.api.validate`."""
    from lamina import api

    return api.validate(data_or_config, **kwargs)


def export(model, format="onnx", quantize=None):
    """Write and parity-check model.onnx in a model package (and model.int8.onnx with quantize="int8"); see
    :func:`lamina.api.export`."""
    from lamina import api

    return api.export(model, format=format, quantize=quantize)


def __getattr__(name: str):
    """``lamina.BatchScorer`` (Ray Data's map_batches class), imported on first use like everything heavy here."""
    if name == "BatchScorer":
        from lamina.serve.batch_scorer import BatchScorer

        return BatchScorer
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


def score(model, inputs, output, **kwargs):
    """Score a folder, manifest or text table into a .csv/.jsonl/.parquet file; see :func:`lamina.api.score`."""
    from lamina import api

    return api.score(model, inputs, output, **kwargs)
