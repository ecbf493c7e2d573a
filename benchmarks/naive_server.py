"""The baseline for benchmarks/serve_throughput.py: FastAPI + PyTorch eager, one forward pass per request.

    .venv/bin/python benchmarks/naive_server.py RUN_DIR PORT

This is the server a practitioner writes first: decode the upload with Pillow, run the
model in eager mode under no_grad, return the top-5 labels. Same model weights and the
same preprocessing as lamina's server.
"""

import io
import sys

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request
from PIL import Image

from lamina.models.package import load_model

model, meta = load_model(sys.argv[1])
labels = meta["labels"]
size = meta["preprocessing"]["size"]
mode = "L" if meta["preprocessing"]["channels"] == 1 else "RGB"
app = FastAPI()


@app.post("/predict/{name}")
async def predict(name: str, request: Request):
    img = Image.open(io.BytesIO(await request.body())).convert(mode).resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8).reshape(size, size, -1)
    x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float()
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)[0]
    scores, idx = probs.topk(min(5, len(labels)))
    top = [{"label": labels[i], "score": float(s)} for s, i in zip(scores.tolist(), idx.tolist())]
    return {"model": name, "predictions": [{"label": top[0]["label"], "score": top[0]["score"], "top_k": top}]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
