"""The baseline most users write first: FastAPI + pydantic + onnxruntime, JSON in and out.

Serves every model of a repository at the Open Inference Protocol's JSON infer route so the
same load generator can drive it. Run: MODEL_REPOSITORY=... uvicorn fastapi_app:app
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

DTYPES = {"FP32": np.float32, "INT64": np.int64, "FP64": np.float64, "INT32": np.int32}
NAMES = {"tensor(float)": "FP32", "tensor(int64)": "INT64", "tensor(double)": "FP64"}


class Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferRequest(BaseModel):
    inputs: list[Tensor]


app = FastAPI()
sessions: dict[str, ort.InferenceSession] = {}
root = Path(os.environ["MODEL_REPOSITORY"])
for folder in sorted(p for p in root.iterdir() if (p / "1" / "model.onnx").exists()):
    if folder.name != "text_upper":
        sessions[folder.name] = ort.InferenceSession(str(folder / "1" / "model.onnx"))


@app.get("/v2/health/ready")
def ready() -> dict[str, bool]:
    return {"ready": True}


@app.post("/v2/models/{name}/infer")
def infer(name: str, request: InferRequest) -> dict[str, Any]:
    session = sessions.get(name)
    if session is None:
        raise HTTPException(404, f"unknown model {name}")
    feed = {
        t.name: np.array(t.data, dtype=DTYPES[t.datatype]).reshape(t.shape) for t in request.inputs
    }
    results = session.run(None, feed)
    outputs = [
        {
            "name": o.name,
            "shape": list(r.shape),
            "datatype": NAMES[o.type],
            "data": r.ravel().tolist(),
        }
        for o, r in zip(session.get_outputs(), results, strict=True)
    ]
    return {"model_name": name, "model_version": "1", "outputs": outputs}
