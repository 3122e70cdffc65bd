"""One trace from the HTTP command at a node, through the relay's publish, to the hub's apply."""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pls.telemetry import configure_tracing
from tests.support import Hub, Node, until


async def test_command_publish_and_apply_share_one_trace(
    tmp_path: Path, nats_server, trust
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("test", span_exporter=exporter)
    node = Node.build(tmp_path / "node", "440000", nats_server.url, trust).serve_http()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust, durable="hub-trace"
    ).start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{node.url}/v1/cases",
                json={"service_type": "consultation", "channel": "web", "county": "440106"},
                headers=node.headers(),
            )
        assert response.status_code == 201
        await hub.caught_up(node)

        def spans_of_the_command() -> list[str]:
            spans = exporter.get_finished_spans()
            command = next((s for s in spans if s.name == "POST /v1/cases"), None)
            if command is None:
                return []
            trace_id = command.context.trace_id
            return sorted({s.name for s in spans if s.context.trace_id == trace_id})

        names = await until(
            lambda: len(spans_of_the_command()) >= 3 and spans_of_the_command(),
            message="three spans in one trace",
        )
        assert {"POST /v1/cases", "hub apply", "relay publish"} <= set(names), names
    finally:
        await hub.stop()
        node.stop_http()
