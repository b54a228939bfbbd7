"""``--grpc-restricted-protocol`` on the gRPC front: each RPC's group, checked by an interceptor.

The groups follow Triton's gRPC server: health (ServerLive, ServerReady, ModelReady and the
grpc.health.v1 service), metadata (ServerMetadata, ModelMetadata), inference (ModelInfer,
ModelStreamInfer), model-config, statistics, trace, logging, shared-memory (system and CUDA)
and model-repository (RepositoryIndex, load, unload). A call without the group's metadata is
answered UNAVAILABLE before its handler runs (a stream before its first message), as Triton does.
The interceptor is installed only when a restriction is configured.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from modelport.errors import ApiRestricted
from modelport.serve.grpc.proto import HEALTH_SERVICE_NAME, SERVICE_NAME
from modelport.serve.restrict import Restrictions

REFUSAL = "This protocol is restricted"  # Triton's words (UNAVAILABLE)

_GROUPS = {
    "health": ("ServerLive", "ServerReady", "ModelReady"),
    "metadata": ("ServerMetadata", "ModelMetadata"),
    "inference": ("ModelInfer", "ModelStreamInfer"),
    "model-config": ("ModelConfig",),
    "statistics": ("ModelStatistics",),
    "trace": ("TraceSetting",),
    "logging": ("LogSettings",),
    "shared-memory": tuple(f"{kind}SharedMemory{action}" for kind in ("System", "Cuda")
                           for action in ("Status", "Register", "Unregister")),
    "model-repository": ("RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"),
}
METHOD_GROUPS = {f"/{SERVICE_NAME}/{rpc}": group
                 for group, rpcs in _GROUPS.items() for rpc in rpcs}
METHOD_GROUPS.update({f"/{HEALTH_SERVICE_NAME}/{rpc}": "health" for rpc in ("Check", "Watch")})

Continuation = Callable[[Any], Awaitable[Any]]


class RestrictionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Answers UNAVAILABLE to calls of a restricted group that lack the group's metadata."""

    def __init__(self, restrictions: Restrictions) -> None:
        self.restrictions = restrictions

    async def intercept_service(self, continuation: Continuation, details: Any) -> Any:
        """The method's own handler, or one that refuses the call."""
        handler = await continuation(details)
        group = METHOD_GROUPS.get(details.method)
        if handler is None or self.restrictions.get(group) is None:
            return handler
        metadata = {str(key).lower(): value for key, value in details.invocation_metadata or ()
                    if isinstance(value, str)}
        try:
            self.restrictions.check(group, metadata, REFUSAL)
        except ApiRestricted as exc:
            return _refusing(handler, grpc.StatusCode[exc.grpc_code], str(exc))
        return handler


def _refusing(handler: Any, code: Any, message: str) -> Any:
    """A handler of ``handler``'s kind that aborts with ``code`` and ``message``."""

    async def refuse(request: Any, context: Any) -> None:
        await context.abort(code, message)

    kinds = {(False, False): grpc.unary_unary_rpc_method_handler,
             (False, True): grpc.unary_stream_rpc_method_handler,
             (True, False): grpc.stream_unary_rpc_method_handler,
             (True, True): grpc.stream_stream_rpc_method_handler}
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(refuse, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
