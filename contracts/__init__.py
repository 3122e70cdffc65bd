"""The federation's public contract: integration events, the CloudEvents envelope, subjects and streams.

Every service and every external subscriber depends on this package; it depends on no service.
"""

from contracts.envelope import CloudEvent, EnvelopeError, build_event, canonical_bytes, parse_event
from contracts.registry import REGISTRY, EventType, UnknownEventType
from contracts.subjects import ORIGINS, PROVINCES, stream_name, subject_for

__all__ = [
    "ORIGINS",
    "PROVINCES",
    "REGISTRY",
    "CloudEvent",
    "EnvelopeError",
    "EventType",
    "UnknownEventType",
    "build_event",
    "canonical_bytes",
    "parse_event",
    "stream_name",
    "subject_for",
]
