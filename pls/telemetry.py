"""OpenTelemetry tracing: one trace from the HTTP command at a node, through the relay, to the hub.

The W3C `traceparent` of the command's span travels inside the domain event and then as the
CloudEvents `traceparent` attribute, so each later step continues the same trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False
_exporting = False


def configure_tracing(
    service_name: str,
    exporter: str = "none",
    endpoint: str | None = None,
    *,
    span_exporter: SpanExporter | None = None,
) -> None:
    """Install a tracer provider. With exporter "none" spans are still made, so traceparents flow."""
    global _configured, _exporting
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    _exporting = span_exporter is not None or exporter in ("console", "otlp")
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
            )
        )
    if not _configured:
        trace.set_tracer_provider(provider)
        _configured = True


def exporting() -> bool:
    """Whether spans go anywhere; per-event spans are only made when they do."""
    return _exporting


def record_span(
    name: str, traceparent: str | None, tracer_name: str, start_ns: int, **attributes: str
) -> None:
    """A finished span from `start_ns` until now, continuing the trace named by `traceparent`."""
    span = tracer(tracer_name).start_span(
        name, context=context_from(traceparent), attributes=attributes, start_time=start_ns
    )
    span.end()


@cache
def tracer(name: str) -> trace.Tracer:
    """The tracer of `name` (made once: a tracer delegates to whichever provider is installed)."""
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, if there is one."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> context.Context | None:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


@contextmanager
def span_from(
    name: str, traceparent: str | None, tracer_name: str, **attributes: str
) -> Iterator[trace.Span]:
    """A span continuing the trace named by `traceparent` (a new trace when there is none)."""
    with tracer(tracer_name).start_as_current_span(
        name, context=context_from(traceparent), attributes=attributes
    ) as span:
        yield span
