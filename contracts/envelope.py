"""The CloudEvents 1.0 envelope in structured JSON mode: build, canonical form and parse.

Every message on `pls.>` is one of these. The canonical form (UTF-8 JSON, keys sorted, no
insignificant white space) is what is published, what the checkpoint hash chain covers and what a
signature signs, so every party can recompute it from the parsed event.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
)

from contracts.events.base import EventData
from contracts.registry import REGISTRY, EventType, describe_validation_error
from contracts.subjects import source_for

CONTENT_TYPE: Final = "application/cloudevents+json"
DATA_CONTENT_TYPE: Final = "application/json"
SEQUENCE_DIGITS: Final = 20
ZERO_HASH: Final = "0" * 64
# Extension attribute: the source's running hash through the event before this one (signed).
CHAIN_HASH: Final = "chainhash"

_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")

SequenceText = Annotated[str, StringConstraints(pattern=rf"^\d{{{SEQUENCE_DIGITS}}}$")]


class EnvelopeError(ValueError):
    """The message is not a valid federation CloudEvent; the message says which attribute and why."""


class CloudEvent(BaseModel):
    """A federation event: the CloudEvents context attributes we require, and `data`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    time: AwareDatetime
    datacontenttype: Literal["application/json"]
    dataschema: Annotated[str, StringConstraints(pattern=r"^https?://")]
    sequence: SequenceText
    traceparent: Annotated[str, StringConstraints(pattern=_TRACEPARENT.pattern)] | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def sequence_number(self) -> int:
        return int(self.sequence)

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def format_sequence(sequence: int) -> str:
    """Sequences are zero-padded so that their string order is their numeric order."""
    if sequence < 1:
        raise ValueError("sequences start at 1")
    return f"{sequence:0{SEQUENCE_DIGITS}d}"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`, so equal instants have equal text."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    # isoformat, not strftime: the same text at a fraction of the cost, for every event written
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def build_event(
    data: EventData,
    *,
    origin: str,
    service: str,
    subject: str,
    event_id: str,
    sequence: int,
    time: datetime,
    traceparent: str | None = None,
    extensions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The structured-mode CloudEvent for `data`, as a plain dict ready for `canonical_bytes`."""
    event_type = REGISTRY.of(data)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source_for(origin, service),
        "type": event_type.name,
        "subject": subject,
        "time": format_time(time),
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": event_type.dataschema,
        "sequence": format_sequence(sequence),
        "data": data.model_dump(mode="json", exclude_none=True),
    }
    if traceparent:
        event["traceparent"] = traceparent
    for name, value in (extensions or {}).items():
        if not _EXTENSION_NAME.match(name) or name in event:
            raise ValueError(f"invalid CloudEvents extension attribute name {name!r}")
        event[name] = value
    return event


def canonical_bytes(event: dict[str, Any]) -> bytes:
    """UTF-8 JSON with sorted keys and no white space: the bytes published, hashed and signed."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def chain_hash(previous_hex: str, canonical: bytes) -> str:
    """One step of the checkpoint hash chain (see `CheckpointPublished`)."""
    digest = hashlib.sha256(canonical).digest()
    return hashlib.sha256(bytes.fromhex(previous_hex) + digest).hexdigest()


def load_json(raw: bytes | str) -> dict[str, Any]:
    """Decode a message body into a JSON object, or say why it is not one."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise EnvelopeError(f"body is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise EnvelopeError("body is not a JSON object")
    return value


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_ATTRIBUTES = tuple(CloudEvent.model_fields)  # in the model's order, as it dumps them
_ATTRIBUTE_SET = frozenset(_ATTRIBUTES)
# The attribute names of envelopes seen, in their order, and the extension names among them
# (None: one is not a valid name). A publisher writes every event with the same names in the
# same order, so this is a handful of entries; it is bounded all the same.
_LAYOUTS: dict[tuple[str, ...], tuple[str, ...] | None] = {}
_MAX_LAYOUTS = 512


def _extension_names(value: dict[str, Any]) -> tuple[str, ...] | None:
    layout = tuple(value)
    try:
        return _LAYOUTS[layout]
    except KeyError:
        pass
    extra = tuple(name for name in layout if name not in _ATTRIBUTE_SET)
    names = extra if all(_EXTENSION_NAME.match(name) for name in extra) else None
    if len(_LAYOUTS) < _MAX_LAYOUTS:
        _LAYOUTS[layout] = names
    return names


def _plainly_valid(value: dict[str, Any]) -> CloudEvent | None:
    """The envelope, when every attribute is plainly valid (as the federation's own publishers
    write them); None when anything needs a closer look, which `CloudEvent` itself then gives.

    Consumers parse every event of every stream: this is the same check at a fraction of the
    cost of model validation, and anything it does not accept goes to that validation."""
    extension_names = _extension_names(value)
    if extension_names is None:
        return None
    get = value.get
    event_id, source, event_type, subject = get("id"), get("source"), get("type"), get("subject")
    sequence, moment, data, schema = get("sequence"), get("time"), get("data"), get("dataschema")
    trace = get("traceparent")
    if (
        type(event_id) is not str
        or not 0 < len(event_id) <= 128
        or type(source) is not str
        or not 0 < len(source) <= 256
        or type(event_type) is not str
        or not 0 < len(event_type) <= 256
        or type(subject) is not str
        or not 0 < len(subject) <= 256
        or get("specversion") != "1.0"
        or get("datacontenttype") != DATA_CONTENT_TYPE
        or type(sequence) is not str
        or len(sequence) != SEQUENCE_DIGITS
        or not (sequence.isascii() and sequence.isdigit())
        or type(data) is not dict
        or type(schema) is not str
        or not schema.startswith(("http://", "https://"))
        or type(moment) is not str
        or _RFC3339.fullmatch(moment) is None
        or (trace is not None and (type(trace) is not str or _TRACEPARENT.match(trace) is None))
    ):
        return None
    try:
        instant = datetime.fromisoformat(moment).astimezone(UTC)
    except ValueError:
        return None
    event = CloudEvent.__new__(CloudEvent)
    object.__setattr__(
        event,
        "__dict__",
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": instant,
            "datacontenttype": DATA_CONTENT_TYPE,
            "dataschema": schema,
            "sequence": sequence,
            "traceparent": trace,
            "data": data,
        },
    )
    object.__setattr__(event, "__pydantic_extra__", {name: value[name] for name in extension_names})
    object.__setattr__(event, "__pydantic_fields_set__", set(value))
    object.__setattr__(event, "__pydantic_private__", None)
    return event


def parse_envelope(value: dict[str, Any]) -> CloudEvent:
    """Validate the CloudEvents attributes of a decoded message (not yet its `data`)."""
    event = _plainly_valid(value)
    if event is not None:
        return event
    try:
        event = CloudEvent.model_validate(value)
    except ValidationError as error:
        raise EnvelopeError(describe_validation_error(error)) from None
    for name in event.extensions:
        if not _EXTENSION_NAME.match(name):
            raise EnvelopeError(
                f"{name}: extension attribute names are 1-20 lower-case letters or digits"
            )
    return event


def parse_event(raw: bytes | str) -> tuple[CloudEvent, EventData]:
    """Parse a message into its envelope and typed payload (upcast to the current version).

    Raises EnvelopeError, contracts.registry.UnknownEventType or PayloadInvalid with the reason.
    """
    envelope = parse_envelope(load_json(raw))
    return envelope, REGISTRY.decode(envelope.type, envelope.data)


def event_type_of(envelope: CloudEvent) -> EventType | None:
    return REGISTRY.types.get(envelope.type)
