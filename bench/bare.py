"""A bare Starlette app with one JSON route on the same uvicorn, the yardstick for retrieve throughput.

`python bench/bare.py PORT FILE` serves the JSON object in FILE at GET /v1/batches/{batch_id}.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path) as f:
        obj = json.load(f)

    async def retrieve(request: Request) -> Response:
        return JSONResponse(obj)

    app = Starlette(routes=[Route("/v1/batches/{batch_id}", retrieve)])
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
