"""BentoML 1.4 serving the same model.onnx as lamina, for benchmarks/serve_throughput.py.

    bentoml serve bentoml_service:Digits --port PORT   (environment: LAMINA_BENCH_PACKAGE, LAMINA_BENCH_BATCHING=0|1)

What a BentoML user writes for an ONNX image classifier: the raw image body decoded with
Pillow, ONNX Runtime with its default threads, the top-5 labels as JSON. With
LAMINA_BENCH_BATCHING=1 the same endpoint is declared batchable (BentoML's adaptive
batching, up to 32 images). Runs in its own virtual environment (BentoML pins its own
Starlette and uvicorn), never imported by lamina.
"""

import json
import os
from pathlib import Path

import bentoml
import numpy as np
import onnxruntime as ort
from PIL import Image

PACKAGE = Path(os.environ.get("LAMINA_BENCH_PACKAGE", "."))
BATCHING = os.environ.get("LAMINA_BENCH_BATCHING") == "1"
META = json.loads((PACKAGE / "lamina.json").read_text()) if (PACKAGE / "lamina.json").exists() else {}


class _Model:
    def __init__(self):
        self.session = ort.InferenceSession(str(PACKAGE / "model.onnx"), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.labels = META["labels"]
        prep = META["preprocessing"]
        self.size, self.mode = prep["size"], "L" if prep["channels"] == 1 else "RGB"

    def pixels(self, image: Image.Image) -> np.ndarray:
        img = image.convert(self.mode).resize((self.size, self.size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8).reshape(self.size, self.size, -1)

    def answers(self, batch: np.ndarray) -> list[dict]:
        probs = self.session.run(None, {self.input: batch})[0]
        out = []
        for row in probs:
            top = [{"label": self.labels[i], "score": float(row[i])} for i in np.argsort(-row)[:5]]
            out.append({"label": top[0]["label"], "score": top[0]["score"], "top_k": top})
        return out


@bentoml.service(workers=1)
class Digits:
    def __init__(self):
        self.model = _Model()

    if BATCHING:

        @bentoml.api(route="/predict/digits", batchable=True, max_batch_size=32, max_latency_ms=1000)
        def predict(self, images: list[Image.Image], /) -> list[dict]:
            answers = self.model.answers(np.stack([self.model.pixels(i) for i in images]))
            return [{"model": "digits", "predictions": [a]} for a in answers]

    else:

        @bentoml.api(route="/predict/digits")
        def predict(self, image: Image.Image, /) -> dict:
            return {"model": "digits", "predictions": self.model.answers(self.model.pixels(image)[None])}
