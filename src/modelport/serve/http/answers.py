"""The server's typed answers (metadata, statistics, index, memory) as Triton's JSON."""

from __future__ import annotations

from typing import Any

from modelport.serve.stats import Duration, ModelStats
from modelport.serve.views import IndexRow, ModelMetadata, ServerMetadata, VersionMemory

_NO_TIME = {"count": 0, "ns": 0}


def server_metadata(meta: ServerMetadata) -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}


def model_metadata(meta: ModelMetadata) -> dict[str, Any]:
    """``GET /v2/models/{m}``."""
    def tensors(items: Any) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]

    return {"name": meta.name, "versions": list(meta.versions), "platform": meta.platform,
            "inputs": tensors(meta.inputs), "outputs": tensors(meta.outputs)}


def statistics(rows: list[ModelStats]) -> dict[str, Any]:
    """``GET .../stats``: every field Triton's statistics extension has."""
    return {"model_stats": [_stats(s) for s in rows]}


def _duration(d: Duration) -> dict[str, int]:
    return {"count": d.count, "ns": d.ns}


def _stats(s: ModelStats) -> dict[str, Any]:
    return {
        "name": s.name,
        "version": s.version,
        "last_inference": s.last_inference_ms,
        "inference_count": s.inference_count,
        "execution_count": s.execution_count,
        "inference_stats": {
            "success": _duration(s.success),
            "fail": _duration(s.fail),
            "queue": _duration(s.queue),
            "compute_input": _duration(s.compute_input),
            "compute_infer": _duration(s.compute_infer),
            "compute_output": _duration(s.compute_output),
            "cache_hit": _NO_TIME,
            "cache_miss": _NO_TIME,
        },
        "response_stats": {},  # per-response timings of decoupled models: none are served
        "batch_stats": [
            {"batch_size": size, "compute_input": _duration(b.compute_input),
             "compute_infer": _duration(b.compute_infer),
             "compute_output": _duration(b.compute_output)}
            for size, b in sorted(s.batches.items())
        ],
        "memory_usage": [],
    }


def index(rows: list[IndexRow]) -> list[dict[str, str]]:
    """``POST /v2/repository/index``: empty fields are left out, as Triton does."""
    out = []
    for row in rows:
        item = {"name": row.name}
        for key in ("version", "state", "reason"):
            if getattr(row, key):
                item[key] = getattr(row, key)
        out.append(item)
    return out


def memory(rows: list[VersionMemory]) -> list[dict[str, Any]]:
    """``GET /v2/debug/models``."""
    return [{"name": r.name, "version": r.version, "rss_delta_bytes": r.rss_delta_bytes,
             "load_seconds": r.load_seconds, "loaded_at": r.loaded_at,
             "instances": r.instances} for r in rows]
