"""The ceiling for benchmarks/serve_throughput.py: bare Starlette + uvicorn, no model.

    .venv/bin/python benchmarks/ceiling_server.py PORT

Reads the request body and returns a fixed JSON answer of the same shape as lamina's
/predict answer. Same framework, HTTP parser and event loop as lamina's server
(Starlette, httptools, uvloop), so what lamina's req/s falls short of this is what its own
work costs: decoding, the model, batching, validation, metrics and the guard.
"""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

ANSWER = {"model": "digits", "predictions": [{"label": "3", "score": 0.99, "top_k": [{"label": "3", "score": 0.99}]}]}


async def predict(request):
    await request.body()
    return JSONResponse(ANSWER)


app = Starlette(routes=[Route("/predict/{name}", predict, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
    )
