"""The server's typed answers (metadata, statistics, index) as protobuf messages."""

from __future__ import annotations

from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.stats import Duration, ModelStats
from modelport.serve.views import IndexRow, ModelMetadata, ServerMetadata


def server_metadata(meta: ServerMetadata) -> pb.ServerMetadataResponse:
    """ServerMetadataResponse."""
    return pb.ServerMetadataResponse(name=meta.name, version=meta.version,
                                     extensions=list(meta.extensions))


def model_metadata(meta: ModelMetadata) -> pb.ModelMetadataResponse:
    """ModelMetadataResponse."""
    msg = pb.ModelMetadataResponse(name=meta.name, versions=list(meta.versions),
                                   platform=meta.platform)
    for tensor in meta.inputs:
        msg.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
    for tensor in meta.outputs:
        msg.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
    return msg


def statistics(rows: list[ModelStats]) -> pb.ModelStatisticsResponse:
    """ModelStatisticsResponse with every field Triton's has."""
    msg = pb.ModelStatisticsResponse()
    for s in rows:
        row = msg.model_stats.add(name=s.name, version=s.version,
                                  last_inference=s.last_inference_ms,
                                  inference_count=s.inference_count,
                                  execution_count=s.execution_count)
        stats = row.inference_stats
        for field, duration in (("success", s.success), ("fail", s.fail), ("queue", s.queue),
                                ("compute_input", s.compute_input),
                                ("compute_infer", s.compute_infer),
                                ("compute_output", s.compute_output)):
            _duration(getattr(stats, field), duration)
        stats.cache_hit.SetInParent()
        stats.cache_miss.SetInParent()
        for size, b in sorted(s.batches.items()):
            batch = row.batch_stats.add(batch_size=size)
            _duration(batch.compute_input, b.compute_input)
            _duration(batch.compute_infer, b.compute_infer)
            _duration(batch.compute_output, b.compute_output)
    return msg


def _duration(target: pb.StatisticDuration, duration: Duration) -> None:
    target.count, target.ns = duration.count, duration.ns


def index(rows: list[IndexRow]) -> pb.RepositoryIndexResponse:
    """RepositoryIndexResponse."""
    msg = pb.RepositoryIndexResponse()
    for row in rows:
        msg.models.add(name=row.name, version=row.version, state=row.state, reason=row.reason)
    return msg
