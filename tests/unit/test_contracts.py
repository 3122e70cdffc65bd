"""The public contract: generated files, compatibility, the envelope, hashing and naming."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.http import from_json as v1_from_json

from contracts import generate
from contracts.envelope import (
    ZERO_HASH,
    CloudEvent,
    EnvelopeError,
    build_event,
    canonical_bytes,
    chain_hash,
    format_sequence,
    format_time,
    parse_envelope,
    parse_event,
)
from contracts.events.base import EventData
from contracts.events.case import CaseAccepted, CaseOpened, CaseTransferred
from contracts.registry import REGISTRY, PayloadInvalid, UnknownEventType
from contracts.subjects import (
    MINISTRY,
    ORIGINS,
    PROVINCES,
    origin_of_source,
    origin_subjects,
    parse_subject,
    source_for,
    stream_name,
    subject_for,
)
from tests.unit.samples import AT, CASE_ID, COUNTY, PSEUDONYM, contract_samples, event_body

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SAMPLES = contract_samples()


def sample_id(data: EventData) -> str:
    return REGISTRY.of(data).name


def opened() -> CaseOpened:
    return CaseOpened(
        case_id=CASE_ID,
        service_type="mediation",
        channel="web",
        county=COUNTY,
        received_at=AT,
        applicant_id=PSEUDONYM,
    )


def envelope(**changes: Any) -> dict[str, Any]:
    event = build_event(
        opened(),
        origin="440000",
        service="province-node",
        subject=CASE_ID,
        event_id="evt-1",
        sequence=7,
        time=AT,
        traceparent=TRACEPARENT,
    )
    for name, value in changes.items():
        if value is None:
            event.pop(name)
        else:
            event[name] = value
    return event


# -- generated files and compatibility -------------------------------------------------------


def test_published_schemas_and_asyncapi_match_the_models() -> None:
    assert generate.check() == []


def test_every_event_type_has_a_sample() -> None:
    assert {sample_id(d) for d in SAMPLES} == set(REGISTRY.types)


OLD_SCHEMA: dict[str, Any] = {
    "properties": {
        "case_id": {"type": "string"},
        "score": {"type": "integer"},
        "channel": {"$ref": "#/$defs/Channel"},
    },
    "required": ["case_id"],
    "$defs": {"Channel": {"enum": ["web", "wechat"], "type": "string"}},
}


def _changed(**edits: Any) -> dict[str, Any]:
    new = json.loads(json.dumps(OLD_SCHEMA))
    for path, value in edits.items():
        target = new
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return new


def test_an_unchanged_schema_has_no_breaking_changes() -> None:
    assert generate.breaking_changes(OLD_SCHEMA, _changed()) == []


def test_a_new_optional_field_is_compatible() -> None:
    new = _changed(properties__note={"type": "string"})
    assert generate.breaking_changes(OLD_SCHEMA, new) == []


def test_a_removed_field_is_a_breaking_change() -> None:
    problems = generate.breaking_changes(OLD_SCHEMA, _changed(properties__score=None), "x.json: ")
    assert problems == ["x.json: score: field removed"]


def test_a_new_required_field_is_a_breaking_change() -> None:
    new = _changed(properties__county={"type": "string"}, required=["case_id", "county"])
    assert generate.breaking_changes(OLD_SCHEMA, new) == ["county: new required field"]


def test_a_type_change_is_a_breaking_change() -> None:
    new = _changed(properties__score={"type": "string"})
    assert generate.breaking_changes(OLD_SCHEMA, new) == ["score: type changed"]


def test_a_removed_enum_value_is_a_breaking_change() -> None:
    new = _changed(**{"$defs__Channel__enum": ["web"]})
    problems = generate.breaking_changes(OLD_SCHEMA, new)
    assert len(problems) == 1
    assert "Channel" in problems[0]
    assert "wechat" in problems[0]


def test_the_committed_schemas_describe_each_type() -> None:
    for event_type in REGISTRY:
        schema = json.loads((generate.SCHEMA_DIR / event_type.schema_file).read_text("utf-8"))
        assert schema["$id"] == event_type.dataschema
        assert schema["title"] == event_type.name


# -- building and parsing --------------------------------------------------------------------


@pytest.mark.parametrize("data", SAMPLES, ids=sample_id)
def test_every_event_type_round_trips_through_the_envelope(data: EventData) -> None:
    body = event_body(data, 42)
    parsed_envelope, parsed = parse_event(body)
    assert parsed == data
    assert type(parsed) is type(data)
    assert parsed_envelope.type == REGISTRY.of(data).name
    assert parsed_envelope.source == "/pls/440000/province-node"
    assert parsed_envelope.sequence_number == 42
    assert parsed_envelope.time == AT
    assert parsed_envelope.dataschema == REGISTRY.of(data).dataschema


def test_the_envelope_carries_every_required_attribute() -> None:
    event = envelope()
    assert event["specversion"] == "1.0"
    assert event["id"] == "evt-1"
    assert event["source"] == "/pls/440000/province-node"
    assert event["type"] == "cn.gov.moj.pls.case.opened.v1"
    assert event["subject"] == CASE_ID
    assert event["datacontenttype"] == "application/json"
    assert event["dataschema"] == (
        "https://pls.moj.gov.cn/schemas/cn.gov.moj.pls.case.opened.v1.json"
    )
    assert event["sequence"] == "00000000000000000007"
    assert event["traceparent"] == TRACEPARENT
    assert event["time"] == "2026-03-02T02:00:00.000000Z"


def test_event_times_are_written_in_utc() -> None:
    china = timezone(timedelta(hours=8))
    event = build_event(
        CaseAccepted(case_id=CASE_ID),
        origin="440000",
        service="province-node",
        subject=CASE_ID,
        event_id="e",
        sequence=1,
        time=datetime(2026, 3, 2, 10, 0, tzinfo=china),
    )
    assert event["time"] == "2026-03-02T02:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone"):
        build_event(
            CaseAccepted(case_id=CASE_ID),
            origin="440000",
            service="province-node",
            subject=CASE_ID,
            event_id="e",
            sequence=1,
            time=datetime(2026, 3, 2),
        )


def test_sequences_sort_as_text_in_numeric_order() -> None:
    numbers = [1, 9, 10, 99, 100, 12345678901234]
    assert sorted(format_sequence(n) for n in numbers) == [format_sequence(n) for n in numbers]
    assert all(len(format_sequence(n)) == 20 for n in numbers)
    with pytest.raises(ValueError, match="start at 1"):
        format_sequence(0)


def test_extensions_are_kept_and_badly_named_ones_refused() -> None:
    event = build_event(
        CaseAccepted(case_id=CASE_ID),
        origin="440000",
        service="province-node",
        subject=CASE_ID,
        event_id="e",
        sequence=1,
        time=AT,
        extensions={"signature": "abc"},
    )
    parsed, _ = parse_event(canonical_bytes(event))
    assert parsed.extensions == {"signature": "abc"}
    for bad in ("Signature", "sig-nature", "id"):
        with pytest.raises(ValueError, match="extension"):
            build_event(
                CaseAccepted(case_id=CASE_ID),
                origin="440000",
                service="province-node",
                subject=CASE_ID,
                event_id="e",
                sequence=1,
                time=AT,
                extensions={bad: "x"},
            )


# -- canonical form and the hash chain -------------------------------------------------------


def test_the_canonical_form_has_sorted_keys_and_no_white_space() -> None:
    body = canonical_bytes(envelope())
    keys = list(orjson.loads(body))
    assert keys == sorted(keys)
    assert list(orjson.loads(body)["data"]) == sorted(orjson.loads(body)["data"])
    assert b" " not in body.replace("天河".encode(), b"")
    assert b"\n" not in body


def test_the_canonical_form_does_not_depend_on_key_order() -> None:
    event = envelope()
    shuffled = dict(reversed(list(event.items())))
    shuffled["data"] = dict(reversed(list(event["data"].items())))
    assert canonical_bytes(shuffled) == canonical_bytes(event)


@pytest.mark.parametrize("data", SAMPLES, ids=sample_id)
def test_re_serialising_a_parsed_event_gives_the_same_bytes(data: EventData) -> None:
    body = event_body(data, 3)
    assert canonical_bytes(orjson.loads(body)) == body
    assert canonical_bytes(json.loads(body.decode("utf-8"))) == body


def test_the_hash_chain_follows_its_definition() -> None:
    first, second = event_body(SAMPLES[0], 1), event_body(SAMPLES[1], 2)
    h1 = chain_hash(ZERO_HASH, first)
    assert h1 == hashlib.sha256(bytes(32) + hashlib.sha256(first).digest()).hexdigest()
    h2 = chain_hash(h1, second)
    assert h2 == hashlib.sha256(bytes.fromhex(h1) + hashlib.sha256(second).digest()).hexdigest()
    assert len(h2) == 64


def test_the_hash_chain_detects_changed_missing_and_reordered_events() -> None:
    bodies = [event_body(data, n) for n, data in enumerate(SAMPLES[:4], start=1)]

    def chain(items: list[bytes]) -> str:
        value = ZERO_HASH
        for item in items:
            value = chain_hash(value, item)
        return value

    honest = chain(bodies)
    assert chain(list(bodies)) == honest
    assert chain(bodies[:2] + bodies[3:]) != honest
    assert chain([bodies[1], bodies[0], *bodies[2:]]) != honest
    altered = bodies[3].replace(b"00000000000000000004", b"00000000000000000005")
    assert chain([*bodies[:3], altered]) != honest


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"traceparent": None},
        {"time": "2026-03-02T18:00:00.5+08:00"},
        {"chainhash": "ab" * 32, "signature": "c2ln", "signingkey": "UKEY"},
        {"time": "2026-03-02 10:00:00Z"},  # not as publishers write it: the model decides
        {"sequence": "00000000000000000007", "extra": {"nested": [1, 2]}},
    ],
)
def test_an_envelope_reads_the_same_however_it_is_checked(changes: dict[str, Any]) -> None:
    value = orjson.loads(canonical_bytes(envelope(**changes)))
    parsed = parse_envelope(value)
    model = CloudEvent.model_validate(value)
    assert parsed == model
    assert parsed.model_dump_json() == model.model_dump_json()
    assert parsed.extensions == model.extensions
    assert parsed.model_fields_set == model.model_fields_set
    assert parsed.time == model.time
    assert parsed.time.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 18, 0, 0, 5, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_event_times_are_written_in_utc_with_microseconds_and_a_z(moment: datetime) -> None:
    text = format_time(moment)
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert datetime.fromisoformat(text) == moment


# -- what a consumer refuses -----------------------------------------------------------------


def test_a_missing_source_is_refused_by_name() -> None:
    with pytest.raises(EnvelopeError, match="source"):
        parse_event(canonical_bytes(envelope(source=None)))


@pytest.mark.parametrize("sequence", ["7", "0000000000000000000x", 7, "-0000000000000000007"])
def test_a_bad_sequence_is_refused_by_name(sequence: Any) -> None:
    with pytest.raises(EnvelopeError, match="sequence"):
        parse_event(canonical_bytes(envelope(sequence=sequence)))


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("specversion", "0.3"),
        ("time", "2026-03-02T10:00:00"),
        ("traceparent", "not-a-trace"),
        ("datacontenttype", "text/plain"),
        ("dataschema", "ftp://x"),
        ("id", None),
        ("type", None),
        ("subject", None),
        ("data", None),
        ("data", "text"),
    ],
)
def test_bad_attributes_are_refused_by_name(attribute: str, value: Any) -> None:
    with pytest.raises(EnvelopeError, match=attribute):
        parse_event(canonical_bytes(envelope(**{attribute: value})))


@pytest.mark.parametrize("body", [b"not json", b'{"specversion": ', b"", "\u00ff".encode()])
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="not JSON"):
        parse_event(body)


def test_a_json_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="not a JSON object"):
        parse_event(b"[1, 2, 3]")


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType, match=r"case\.opened\.v9"):
        parse_event(canonical_bytes(envelope(type="cn.gov.moj.pls.case.opened.v9")))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("county", "4401"),
        ("channel", "fax"),
        ("applicant_id", "张三"),
        ("received_at", "2026-03-02T10:00:00"),
        ("service_type", None),
    ],
)
def test_a_bad_payload_is_refused_naming_the_field(field: str, value: Any) -> None:
    event = envelope()
    if value is None:
        del event["data"][field]
    else:
        event["data"][field] = value
    with pytest.raises(PayloadInvalid, match=field):
        parse_event(canonical_bytes(event))


def test_payload_rules_across_fields_are_enforced() -> None:
    event = envelope()
    event["data"]["channel"] = "walk_in"
    with pytest.raises(PayloadInvalid, match="platform_level"):
        parse_event(canonical_bytes(event))
    with pytest.raises(ValueError, match="exactly one"):
        CaseTransferred(case_id=CASE_ID, to_agency_id="a", to_province="110000")


def test_unknown_payload_fields_from_a_newer_producer_are_ignored() -> None:
    event = envelope()
    event["data"]["added_in_a_minor_version"] = "x"
    _, data = parse_event(canonical_bytes(event))
    assert data == opened()


# -- subjects, sources and streams -----------------------------------------------------------


def test_there_are_32_provincial_platforms_and_the_ministry() -> None:
    assert len(PROVINCES) == 32
    assert "660000" in PROVINCES
    assert set(ORIGINS) == {*PROVINCES, MINISTRY}


def test_subjects_name_origin_aggregate_and_event() -> None:
    assert subject_for("440000", "case", "opened") == "pls.440000.case.opened"
    assert subject_for("moj", "complaint", "escalated") == "pls.moj.complaint.escalated"
    assert parse_subject("pls.510000.agency.registered") == ("510000", "agency", "registered")
    assert REGISTRY.for_model(CaseOpened).subject("660000") == "pls.660000.case.opened"
    assert origin_subjects("440000") == "pls.440000.>"


def test_streams_are_one_per_origin() -> None:
    assert stream_name("440000") == "PLS_440000"
    assert stream_name("moj") == "PLS_MOJ"
    assert len({stream_name(origin) for origin in ORIGINS}) == len(ORIGINS)


def test_sources_name_the_origin() -> None:
    assert source_for("440000", "province-node") == "/pls/440000/province-node"
    assert origin_of_source("/pls/440000/province-node") == "440000"
    assert origin_of_source(source_for("moj", "complaints")) == "moj"


@pytest.mark.parametrize("origin", ["999999", "440100", "MOJ", "", "4400000", "pls"])
def test_unknown_origins_are_refused_everywhere(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        subject_for(origin, "case", "opened")
    with pytest.raises(ValueError, match="origin"):
        stream_name(origin)
    with pytest.raises(ValueError, match="origin"):
        source_for(origin, "province-node")
    with pytest.raises(ValueError, match="origin"):
        origin_subjects(origin)
    with pytest.raises(ValueError, match="source"):
        origin_of_source(f"/pls/{origin}/province-node")
    with pytest.raises(ValueError, match="subject"):
        parse_subject(f"pls.{origin}.case.opened")


@pytest.mark.parametrize(
    "subject", ["pls.440000.case", "pls.440000.case.opened.extra", "nats.440000.case.opened", ""]
)
def test_malformed_subjects_are_refused(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        parse_subject(subject)


@pytest.mark.parametrize(
    ("aggregate", "event"),
    [("Case", "opened"), ("case", "Opened"), ("case", "opened.v1"), ("case", "*")],
)
def test_subject_tokens_are_lower_case_words(aggregate: str, event: str) -> None:
    with pytest.raises(ValueError, match="token"):
        subject_for("440000", aggregate, event)


@pytest.mark.parametrize(
    "source", ["pls/440000/province-node", "/pls/440000", "/other/440000/x", "/pls/440000/a/b"]
)
def test_malformed_sources_are_refused(source: str) -> None:
    with pytest.raises(ValueError, match="source"):
        origin_of_source(source)


# -- the official CloudEvents SDK reads what we publish --------------------------------------


@pytest.mark.parametrize("data", SAMPLES, ids=sample_id)
def test_the_cloudevents_sdk_parses_every_event(data: EventData) -> None:
    body = event_body(data, 5)
    event = JSONFormat().read(None, body)
    assert event.get_specversion() == "1.0"
    assert event.get_id() == "440000-5"
    assert event.get_source() == "/pls/440000/province-node"
    assert event.get_type() == REGISTRY.of(data).name
    assert event.get_subject() == orjson.loads(body)["subject"]
    assert event.get_time() == AT
    assert event.get_dataschema() == REGISTRY.of(data).dataschema
    assert event.get_extension("sequence") == "00000000000000000005"
    assert event.get_data() == data.model_dump(mode="json", exclude_none=True)


def test_the_cloudevents_sdk_reads_a_structured_http_message() -> None:
    body = canonical_bytes(envelope())
    message = HTTPMessage(headers={"content-type": "application/cloudevents+json"}, body=body)
    event = from_http_event(message)
    assert event.get_type() == "cn.gov.moj.pls.case.opened.v1"
    assert event.get_extension("traceparent") == TRACEPARENT
    legacy = v1_from_json(body)
    assert legacy["id"] == "evt-1"
    assert legacy["sequence"] == "00000000000000000007"
    assert legacy.data == orjson.loads(body)["data"]


def test_event_times_keep_their_microseconds_through_the_sdk() -> None:
    now = datetime(2026, 3, 2, 2, 0, 0, 123456, tzinfo=UTC)
    body = canonical_bytes(
        build_event(
            CaseAccepted(case_id=CASE_ID),
            origin="moj",
            service="complaints",
            subject=CASE_ID,
            event_id="e",
            sequence=1,
            time=now,
        )
    )
    assert JSONFormat().read(None, body).get_time() == now
