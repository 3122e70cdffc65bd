"""Generate the published JSON Schemas and the AsyncAPI 3.0 document from the event models.

`python -m contracts.generate` rewrites `contracts/schemas/` and `contracts/asyncapi.yaml`;
`python -m contracts.generate --check` fails when they have drifted from the models, or when a
published version changed incompatibly (a breaking change needs a new `vN` type instead).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from contracts.registry import REGISTRY, EventType
from contracts.subjects import MINISTRY, PROVINCES

HERE = Path(__file__).parent
SCHEMA_DIR = HERE / "schemas"
ASYNCAPI_FILE = HERE / "asyncapi.yaml"
ENVELOPE_SCHEMA = "cloudevent.json"
CONTRACT_VERSION = "1.0.0"


def event_schema(event_type: EventType) -> dict[str, Any]:
    schema = event_type.model.model_json_schema(mode="serialization")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": event_type.dataschema,
        **schema,
        "title": event_type.name,
    }
    return schema


def envelope_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://pls.moj.gov.cn/schemas/cloudevent.json",
        "title": "Federation CloudEvent (structured JSON mode)",
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "sequence",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "minLength": 1,
                "description": "Unique per source and stable: a re-sent event keeps its id.",
            },
            "source": {
                "type": "string",
                "pattern": "^/pls/([0-9]{6}|moj)/[a-z-]+$",
                "examples": ["/pls/440000/province-node"],
            },
            "type": {
                "type": "string",
                "pattern": r"^cn\.gov\.moj\.pls\.[a-z_]+\.[a-z_]+\.v[0-9]+$",
            },
            "subject": {"type": "string", "description": "The aggregate id."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string", "format": "uri"},
            "sequence": {
                "type": "string",
                "pattern": "^[0-9]{20}$",
                "description": "Contiguous per source, zero-padded (CloudEvents sequence extension).",
            },
            "traceparent": {
                "type": "string",
                "description": "W3C trace context (distributed tracing extension).",
            },
            "data": {"type": "object"},
        },
        "additionalProperties": True,
    }


def _message_name(event_type: EventType) -> str:
    words = f"{event_type.aggregate}_{event_type.event}".split("_")
    return "".join(word.capitalize() for word in words) + f"V{event_type.version}"


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    origins = [*PROVINCES, MINISTRY]
    for event_type in REGISTRY:
        channel_id = f"{event_type.aggregate}.{event_type.event}"
        message_name = _message_name(event_type)
        messages[message_name] = {
            "name": event_type.name,
            "title": event_type.model.__doc__.strip().splitlines()[0]
            if event_type.model.__doc__
            else "",
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "The event id."}},
            },
            "payload": {
                "allOf": [
                    {"$ref": f"./schemas/{ENVELOPE_SCHEMA}"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event_type.name},
                            "data": {"$ref": f"./schemas/{event_type.schema_file}"},
                        },
                    },
                ]
            },
        }
        channel = channels.setdefault(
            channel_id,
            {
                "address": f"pls.{{origin}}.{event_type.aggregate}.{event_type.event}",
                "parameters": {
                    "origin": {
                        "description": "GB/T 2260 province code (660000 for the Corps) or moj.",
                        "enum": origins,
                    }
                },
                "messages": {},
            },
        )
        channel["messages"][message_name] = {"$ref": f"#/components/messages/{message_name}"}
        operations[f"receive{message_name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Public legal service federation events",
            "version": CONTRACT_VERSION,
            "description": (
                "Integration events of China's public legal service platforms, published by each "
                "province node and the ministry's services to NATS JetStream as CloudEvents 1.0 in "
                "structured JSON mode. Each origin has its own stream (PLS_<origin>)."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "local": {
                "host": "127.0.0.1:14222",
                "protocol": "nats",
                "description": "The nats-server started by `pls up`.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated values out in full: readers of the document should not chase anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def rendered_files() -> dict[Path, str]:
    files = {
        SCHEMA_DIR / ENVELOPE_SCHEMA: json.dumps(envelope_schema(), indent=2, ensure_ascii=False)
        + "\n"
    }
    for event_type in REGISTRY:
        files[SCHEMA_DIR / event_type.schema_file] = (
            json.dumps(event_schema(event_type), indent=2, ensure_ascii=False) + "\n"
        )
    files[ASYNCAPI_FILE] = yaml.dump(
        asyncapi_document(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100
    )
    return files


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """Changes to a published schema that would break an existing consumer or producer."""
    problems = []
    old_props = old.get("properties", {})
    new_props = new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{where}{name}: field removed")
        elif old_props[name].get("type") != new_props[name].get("type"):
            problems.append(f"{where}{name}: type changed")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{where}{name}: new required field")
    for name, definition in old.get("$defs", {}).items():
        if "enum" in definition:
            removed = set(definition["enum"]) - set(
                new.get("$defs", {}).get(name, {}).get("enum", [])
            )
            if removed:
                problems.append(f"{where}{name}: enum values removed {sorted(removed)}")
    return problems


def check() -> list[str]:
    """Every difference between the committed files and the models, breaking ones first."""
    problems: list[str] = []
    drift: list[str] = []
    for path, text in rendered_files().items():
        if not path.exists():
            drift.append(
                f"{path.relative_to(HERE.parent)}: missing (run `python -m contracts.generate`)"
            )
            continue
        committed = path.read_text(encoding="utf-8")
        if committed == text:
            continue
        drift.append(
            f"{path.relative_to(HERE.parent)}: differs from the models (run `python -m contracts.generate`)"
        )
        if path.suffix == ".json" and path.name != ENVELOPE_SCHEMA:
            problems += breaking_changes(json.loads(committed), json.loads(text), f"{path.name}: ")
    published = {path.name for path in SCHEMA_DIR.glob("*.json")}
    current = {event_type.schema_file for event_type in REGISTRY} | {ENVELOPE_SCHEMA}
    for name in sorted(published - current):
        problems.append(f"{name}: a published event type was removed")
    return problems + drift


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path, text in rendered_files().items():
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(REGISTRY.types)} event schemas and {ASYNCAPI_FILE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
