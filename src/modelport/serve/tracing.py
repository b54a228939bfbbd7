"""OpenTelemetry spans per request, continuing the caller's W3C ``traceparent``.

Off unless ``OTEL_TRACES_EXPORTER`` is set (``otlp`` or ``console``) or a tracer provider is
passed in from Python; when off, the hot path only tests one attribute for None.

Spans: ``infer`` (server span, child of the caller's traceparent) with children ``decode``,
``queue`` and ``encode``; ``execute`` for each batch, linked to every request it carried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from modelport.errors import MissingExtra
from modelport.serve.tracesettings import TraceSetting, TraceSettings

log = logging.getLogger("modelport.tracing")


class RequestTrace:
    """The spans of one request."""

    __slots__ = ("root", "tracing")

    def __init__(self, tracing: Tracing, root: Any) -> None:
        self.tracing = tracing
        self.root = root

    def child(self, name: str, start_ns: int | None = None, **attributes: Any) -> Any:
        """Start a child span of the request (end it with ``span.end()``)."""
        return self.tracing.start_child(self.root, name, start_ns, attributes)

    def finish(self, model: str, version: str, error: str | None = None) -> None:
        """Close the request span."""
        self.root.set_attribute("modelport.model", model)
        self.root.set_attribute("modelport.version", version)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            self.root.set_status(Status(StatusCode.ERROR, error))
        self.root.end()


class Tracing:
    """Creates spans, or nothing at all when tracing is off."""

    def __init__(self, provider: Any = None, settings: TraceSettings | None = None) -> None:
        self.enabled = provider is not None
        self._tracer: Any = None
        if provider is not None:
            self._tracer = provider.get_tracer("modelport")
        # Sampling (Triton's trace extension): every request when an exporter is configured,
        # until the trace settings say otherwise.
        self.settings = settings or TraceSettings(
            TraceSetting(level=("TIMESTAMPS",) if self.enabled else ("OFF",)))

    @classmethod
    def from_settings(cls, exporter_name: str, service: str = "modelport",
                      trace_config: dict[str, str] | None = None) -> Tracing:
        """Tracing with span exporter ``exporter_name`` (``otlp``, ``console`` or ``none``, as
        OTEL_TRACES_EXPORTER says; the OTLP exporter reads its endpoint from OTEL_* itself).

        Raises:
            MissingExtra: the OpenTelemetry SDK or the exporter is not installed.
        """
        if exporter_name in ("", "none"):
            return cls(None)
        provider = _provider(exporter_name, service)
        tracing = cls(provider)
        if trace_config:
            tracing.settings.update("", {f"trace_{k}": v.split(",")
                                         for k, v in trace_config.items() if k != "mode"})
        return tracing


    def start_request(self, carrier: Mapping[str, str], protocol: str,
                      model: str = "") -> RequestTrace | None:
        """The request span, child of the caller's ``traceparent`` when it sent one; None when
        tracing is off or the trace settings do not sample this request."""
        if not self.enabled or not self.settings.for_model(model).sample():
            return None
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        parent = extract(dict(carrier))
        root = self._tracer.start_span("infer", context=parent, kind=SpanKind.SERVER,
                                       attributes={"rpc.system": protocol})
        return RequestTrace(self, root)

    def start_child(self, parent: Any, name: str, start_ns: int | None,
                    attributes: dict[str, Any]) -> Any:
        from opentelemetry import trace

        return self._tracer.start_span(name, context=trace.set_span_in_context(parent),
                                       start_time=start_ns, attributes=attributes)

    def batch_span(self, requests: list[RequestTrace], model: str, version: str,
                   batch_size: int) -> Any:
        """The span of one batch execution, linked to every traced request in it."""
        from opentelemetry.trace import Link

        links = [Link(r.root.get_span_context()) for r in requests]
        return self._tracer.start_span("execute", links=links, attributes={
            "modelport.model": model, "modelport.version": version,
            "modelport.batch_size": batch_size, "modelport.requests": len(requests)})


def _provider(exporter_name: str, service: str) -> Any:
    """A tracer provider exporting spans with ``exporter_name``."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise MissingExtra("opentelemetry-sdk", "otlp", "tracing") from None
    if exporter_name == "console":
        exporter: Any = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError:
            raise MissingExtra("opentelemetry-exporter-otlp-proto-http", "otlp",
                               "the OTLP exporter") from None
        exporter = OTLPSpanExporter()
    else:
        raise MissingExtra(f"a span exporter named '{exporter_name}'", "otlp",
                           "OTEL_TRACES_EXPORTER (use otlp, console or none)")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing on: exporter %s", exporter_name)
    return provider
