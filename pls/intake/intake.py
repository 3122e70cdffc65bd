"""Intake: every delivery checked, put in its source's order, and either applied, held or refused.

Per source (a province, or the ministry's own services) the intake knows the last applied
`sequence` and the running hash through it. A delivery is:
- refused (dead-lettered, sequence untouched) when it is not a CloudEvent, its source, subject
  and stream disagree, or it is not signed by a key the registry lists for its origin: nobody may
  speak for another origin;
- dropped as a duplicate when its sequence was already applied (refused instead when its type is
  unknown or its payload invalid: it cannot be the event that was applied);
- held when it comes after a gap, until the gap is filled from the stream or by backfill;
- applied in sequence order otherwise. A payload that fails its schema is dead-lettered but still
  takes its place in the sequence and the hash chain, so the source's later events flow on.
  When the province's journal can be asked (`verify_doubtful`), such an event is first held as
  doubtful and only takes its place if the journal holds the very same event at that sequence;
  otherwise it is refused and the journal's event applies, so a message that is not the
  province's own can never take the place of one that is.
Checkpoint events are verified against the hash chain as they are reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import (
    CHAIN_HASH,
    CloudEvent,
    EnvelopeError,
    canonical_bytes,
    chain_hash,
    load_json,
    parse_envelope,
)
from contracts.events.base import EventData
from contracts.events.checkpoint import CheckpointPublished
from contracts.registry import REGISTRY, PayloadInvalid, UnknownEventType
from contracts.subjects import origin_of_source, parse_subject
from pls.trust.registry import FederationRegistry
from pls.trust.signing import SIGNATURE, SIGNING_KEY, signature_problem

ZERO_HASH = "0" * 64
# Checks the signatures of (event, origin) pairs: the reason each cannot be accepted, or None.
Verify = Callable[[list[tuple[dict[str, Any], str]]], list[str | None]]
CHECKPOINT_TYPE_PREFIX = "cn.gov.moj.pls.checkpoint."


@dataclass(frozen=True)
class Delivery:
    """One message as it arrived: from a stream (with its stream sequence), or from backfill."""

    origin: str
    subject: str | None
    body: bytes
    stream_sequence: int | None = None
    handle: Any = None
    via: str = "stream"


@dataclass(frozen=True)
class Applicable:
    origin: str
    envelope: CloudEvent
    data: EventData


@dataclass(frozen=True)
class DeadLetter:
    origin: str | None
    subject: str | None
    reason: str
    body: bytes
    stream_sequence: int | None
    event_id: str | None = None
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A delivery's decoded body (None when it is not a JSON object) and what is wrong with it so
    far: not JSON, or a signature that cannot be accepted (None when nothing is)."""

    value: dict[str, Any] | None
    problem: str | None
    # For an event a verified signature vouches for through the hash chain: the running hash
    # before it and after it, already computed from its bytes (see `Intake.prepare_batch`).
    chained: tuple[str, str] | None = None


def _signed(prepared: Prepared, delivery: Delivery) -> tuple[dict[str, Any], str]:
    assert prepared.value is not None
    return prepared.value, delivery.origin


def _claims_key(prepared: Prepared, keys: Collection[str]) -> bool:
    value = prepared.value or {}
    return value.get(SIGNING_KEY) in keys and isinstance(value.get(SIGNATURE), str)


@dataclass(slots=True)
class SourceState:
    """How far a source has been applied. The intake changes only its own working copy of a
    source within a batch; committed states are never changed in place."""

    origin: str
    sequence: int = 0
    running_hash: str = ZERO_HASH
    last_event_time: str | None = None
    last_applied_at: str | None = None
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    stream_position: int = 0
    checkpoint_sequence: int | None = None
    checkpoint_status: str = "none"
    checkpoint_at: str | None = None
    diverged_at: int | None = None


@dataclass
class Batch:
    events: list[Applicable] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    handles: list[Any] = field(default_factory=list)
    sources: dict[str, SourceState] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.events or self.dead_letters or self.handles or self.sources)


@dataclass
class _Held:
    delivery: Delivery
    value: dict[str, Any]
    envelope: CloudEvent
    doubtful: str | None = None  # why the journal must confirm it before it takes its place
    chained: tuple[str, str] | None = None  # running hash before and after it (`Prepared`)
    since: float = field(default_factory=time.monotonic)


@dataclass
class Gap:
    origin: str
    expected: int
    first_held: int
    since: float
    doubtful: bool = False

    @property
    def missing(self) -> int:
        return self.first_held - self.expected


class Intake:
    def __init__(
        self,
        sources: Iterable[SourceState],
        *,
        max_held: int = 50_000,
        interested_in: Callable[[str], bool] | None = None,
        registry: FederationRegistry | None = None,
        verify_doubtful: bool = False,
    ) -> None:
        self.sources: dict[str, SourceState] = {s.origin: s for s in sources}
        self.interested_in = interested_in
        # Without a registry signatures are not checked: only unit tests of ordering do that.
        self.registry = registry
        self.max_held = max_held
        self.verify_doubtful = verify_doubtful
        self._held: dict[str, dict[int, _Held]] = {}
        self._gap_since: dict[str, float] = {}
        self._batch = Batch()
        self._in_flight: dict[str, SourceState] = {}
        self._clock: tuple[float, str] = (0.0, "")
        self._origins_checked: set[tuple[str, str, str | None, str]] = set()
        self.duplicates_dropped = 0

    # -- offering ------------------------------------------------------------------------------

    def prepare(self, delivery: Delivery) -> Prepared:
        """What can be checked of a delivery on its own, in any thread: its JSON and signature.

        Verifying a signature is the costliest step of consuming an event and releases the GIL,
        so a consumer prepares a batch in worker threads and offers it in order afterwards."""
        try:
            value = load_json(delivery.body)
        except EnvelopeError as error:
            return Prepared(None, str(error))
        if self.registry is None:
            return Prepared(value, None)
        return Prepared(value, signature_problem(value, delivery.origin, self.registry))

    def prepare_batch(
        self, deliveries: Sequence[Delivery], verify: Verify | None = None
    ) -> list[Prepared]:
        """`prepare` for a batch in delivery order, checking far fewer signatures.

        Where a source's deliveries continue its applied sequence, their bodies are chained on
        from the applied running hash. When one of them claims, under its own signature, exactly
        the running hash through the event before it (`chainhash`), that one verified signature
        vouches for every event of the run before it: they are the very bytes the source
        published. Anything else (an event out of that order, a chain that does not lead to the
        signed claim because an event was forged or altered, an event without `chainhash`) has
        its own signature checked, so a bad one is refused with its own reason. `verify` checks
        many signatures at once (in worker threads, say); by default one after the other."""
        check = verify or self._verify_each
        prepared: list[Prepared] = []
        for delivery in deliveries:
            try:
                prepared.append(Prepared(load_json(delivery.body), None))
            except EnvelopeError as error:
                prepared.append(Prepared(None, str(error)))
        if self.registry is None:
            return prepared
        runs, hashes = self._chained_runs(deliveries, prepared)
        covered = {i for _, cover in runs for i in cover}
        todo = [i for i, p in enumerate(prepared) if p.value is not None and i not in covered]
        problems = dict(
            zip(todo, check([_signed(prepared[i], deliveries[i]) for i in todo]), strict=True)
        )
        broken = [i for anchor, cover in runs if problems[anchor] is not None for i in cover]
        if broken:
            problems.update(
                zip(
                    broken,
                    check([_signed(prepared[i], deliveries[i]) for i in broken]),
                    strict=True,
                )
            )
        vouched = {i for anchor, cover in runs if problems[anchor] is None for i in cover}
        return [
            p
            if p.value is None
            else Prepared(p.value, problems.get(i), hashes[i] if i in vouched else None)
            for i, p in enumerate(prepared)
        ]

    def _chained_runs(
        self, deliveries: Sequence[Delivery], prepared: list[Prepared]
    ) -> tuple[list[tuple[int, list[int]]], dict[int, tuple[str, str]]]:
        """Per source: (the event whose signed `chainhash` closes the run, the events it vouches
        for), where the run continues the source's applied sequence and running hash; and the
        running hash before and after each event of a run."""
        assert self.registry is not None
        by_origin: dict[str, list[int]] = {}
        for i, (delivery, item) in enumerate(zip(deliveries, prepared, strict=True)):
            if item.value is not None:
                by_origin.setdefault(delivery.origin, []).append(i)
        runs = []
        hashes: dict[int, tuple[str, str]] = {}
        for origin, indices in by_origin.items():
            state = self._state(origin)
            expected, running = state.sequence + 1, state.running_hash
            keys = self.registry.signing_keys_for(origin)
            run: list[tuple[int, str]] = []  # (index, running hash through the event before it)
            for i in indices:
                value = prepared[i].value
                assert value is not None
                sequence = value.get("sequence")
                number = int(sequence) if isinstance(sequence, str) and sequence.isdigit() else 0
                if number < expected:
                    continue  # already applied (a redelivery): checked on its own
                if number > expected:
                    break
                run.append((i, running))
                after = chain_hash(running, deliveries[i].body)
                hashes[i] = (running, after)
                running = after
                expected += 1
            for at in range(len(run) - 1, 0, -1):
                anchor, before = run[at]
                value = prepared[anchor].value
                assert value is not None
                if value.get(CHAIN_HASH) == before:
                    # Each still names a key of its origin and is signed; else it is checked
                    # on its own, to be refused with that reason.
                    cover = [i for i, _ in run[:at] if _claims_key(prepared[i], keys)]
                    runs.append((anchor, cover))
                    break
        return runs, hashes

    def _verify_each(self, items: list[tuple[dict[str, Any], str]]) -> list[str | None]:
        assert self.registry is not None
        return [signature_problem(value, origin, self.registry) for value, origin in items]

    def offer(self, delivery: Delivery, prepared: Prepared | None = None) -> None:
        try:
            prepared = prepared or self.prepare(delivery)
            if prepared.value is None:
                raise EnvelopeError(prepared.problem or "body is not JSON")
            value = prepared.value
            envelope = parse_envelope(value)
            self._check_origin(delivery, envelope)
            if prepared.problem is not None:
                raise EnvelopeError(prepared.problem)
        except EnvelopeError as error:
            self._refuse(delivery, str(error))
            return
        sequence = envelope.sequence_number
        if sequence < 1:
            self._refuse(delivery, "sequence: sequences start at 1")
            return
        state = self._state(delivery.origin)
        if sequence <= state.sequence:
            problem = None if delivery.via == "backfill" else self._problem(envelope)[1]
            if problem is not None:
                self._refuse(delivery, f"{problem} (sequence {sequence} was already applied)")
            else:
                self._duplicate(delivery)
            return
        held = self._held.setdefault(delivery.origin, {})
        waiting = held.get(sequence)
        if waiting is not None and waiting.doubtful is not None:
            self._settle_doubt(delivery, value, envelope, waiting)
            return
        if sequence > state.sequence + 1:
            # Bounded across all sources: what does not fit is let go, and fetched again from the
            # journal once the gap before it is filled (backfill, reconciliation).
            if sequence in held or self.held_count() >= self.max_held:
                self._duplicate(delivery, count=False)
            else:
                held[sequence] = _Held(delivery, value, envelope, chained=prepared.chained)
                self._gap_since.setdefault(delivery.origin, time.monotonic())
            return
        if self._apply(_Held(delivery, value, envelope, chained=prepared.chained)):
            self._release_held(delivery.origin)

    def _settle_doubt(
        self, delivery: Delivery, value: dict[str, Any], envelope: CloudEvent, waiting: _Held
    ) -> None:
        """A doubtful event waits at this sequence: only the province's journal settles it."""
        if delivery.via != "backfill":
            self._duplicate(delivery, count=False)  # the journal, not another message, decides
            return
        held = self._held[delivery.origin]
        del held[envelope.sequence_number]
        if canonical_bytes(waiting.value) == canonical_bytes(value):
            waiting.doubtful = None
            self._apply(waiting, confirmed=True)  # the province did publish it: it takes its place
        else:
            self._refuse(
                waiting.delivery,
                f"{waiting.doubtful}; the province's journal holds another event at sequence "
                f"{envelope.sequence_number}",
            )
            self._apply(_Held(delivery, value, envelope), confirmed=True)
        self._release_held(delivery.origin)

    def refuse_beyond(self, origin: str, head: int, *, held_before: float | None = None) -> int:
        """The province's journal ended at `head` when it was read: events held since before then
        with a later sequence were never published by the province (its journal is written before
        anything is sent), so they are refused."""
        held = self._held.get(origin, {})
        beyond = sorted(
            s
            for s, item in held.items()
            if s > head and (held_before is None or item.since <= held_before)
        )
        for sequence in beyond:
            item = held.pop(sequence)
            reason = f"sequence: {sequence} is beyond the province's journal, which ends at {head}"
            if item.doubtful is not None:
                reason = f"{item.doubtful}; {reason}"
            self._refuse(item.delivery, reason)
        if not held:
            self._gap_since.pop(origin, None)
        return len(beyond)

    def set_stream_position(self, origin: str, position: int) -> None:
        """How far the source's stream was read (lowered when the stream starts again)."""
        self._working(origin).stream_position = position

    def forget(self, state: SourceState) -> None:
        """Start a source again from `state` (after its rows were reset), dropping what is held."""
        origin = state.origin
        self.sources[origin] = state
        self._held.pop(origin, None)
        self._gap_since.pop(origin, None)
        self._in_flight.pop(origin, None)
        self._batch.sources.pop(origin, None)

    def _problem(self, envelope: CloudEvent) -> tuple[EventData | None, str | None]:
        """The decoded payload, or why it cannot be decoded; (None, None) for one not wanted."""
        if (
            self.interested_in is not None
            and not self.interested_in(envelope.type)
            and REGISTRY.supports(envelope.type)
            and not envelope.type.startswith(CHECKPOINT_TYPE_PREFIX)
        ):
            return None, None  # a valid event this reader does not need
        try:
            return REGISTRY.decode(envelope.type, envelope.data), None
        except (UnknownEventType, PayloadInvalid) as error:
            return None, f"data: {error}"

    def _check_origin(self, delivery: Delivery, envelope: CloudEvent) -> None:
        checked = (delivery.origin, envelope.source, delivery.subject, envelope.type)
        if checked in self._origins_checked:
            return  # a source publishes few kinds of event: each combination is checked once
        self._check_origin_once(delivery, envelope)
        if len(self._origins_checked) < 4096:
            self._origins_checked.add(checked)

    def _check_origin_once(self, delivery: Delivery, envelope: CloudEvent) -> None:
        try:
            source_origin = origin_of_source(envelope.source)
        except ValueError as error:
            raise EnvelopeError(f"source: {error}") from None
        if source_origin != delivery.origin:
            raise EnvelopeError(
                f"source: {envelope.source} does not belong to origin {delivery.origin} "
                "(an origin may publish only its own events)"
            )
        if delivery.subject is not None:
            try:
                subject_origin, aggregate, event = parse_subject(delivery.subject)
            except ValueError as error:
                raise EnvelopeError(f"subject: {error}") from None
            if subject_origin != delivery.origin:
                raise EnvelopeError(
                    f"subject: {delivery.subject} is not under pls.{delivery.origin}"
                )
            expected_prefix = f"cn.gov.moj.pls.{aggregate}.{event}.v"
            if not envelope.type.startswith(expected_prefix):
                raise EnvelopeError(
                    f"type: {envelope.type} does not match subject {delivery.subject}"
                )

    def _state(self, origin: str) -> SourceState:
        state = (
            self._batch.sources.get(origin)
            or self._in_flight.get(origin)
            or self.sources.get(origin)
        )
        if state is None:
            state = SourceState(origin)
        return state

    def _set(self, state: SourceState) -> None:
        self._batch.sources[state.origin] = state

    def _now(self) -> str:
        """The time now as text, read again at most every 50 ms (it is stamped on every event)."""
        moment = time.monotonic()
        if moment - self._clock[0] > 0.05:
            self._clock = (moment, datetime.now(UTC).isoformat())
        return self._clock[1]

    def _working(self, origin: str) -> SourceState:
        """This batch's own copy of the source's state, to change in place."""
        state = self._batch.sources.get(origin)
        if state is None:
            base = self._in_flight.get(origin) or self.sources.get(origin)
            state = replace(base) if base is not None else SourceState(origin)
            self._batch.sources[origin] = state
        return state

    def _handled(self, delivery: Delivery) -> None:
        if delivery.handle is not None:
            self._batch.handles.append(delivery.handle)
        if delivery.stream_sequence is not None:
            state = self._working(delivery.origin)
            if delivery.stream_sequence > state.stream_position:
                state.stream_position = delivery.stream_sequence

    def _refuse(self, delivery: Delivery, reason: str) -> None:
        self._batch.dead_letters.append(
            DeadLetter(
                origin=delivery.origin,
                subject=delivery.subject,
                reason=reason,
                body=delivery.body,
                stream_sequence=delivery.stream_sequence,
            )
        )
        self._working(delivery.origin).dead_letters += 1
        self._handled(delivery)

    def _duplicate(self, delivery: Delivery, *, count: bool = True) -> None:
        if count:
            self.duplicates_dropped += 1
            self._working(delivery.origin).duplicates += 1
        self._handled(delivery)

    def _apply(self, item: _Held, *, confirmed: bool = False) -> bool:
        """Apply `item` as its source's next event; False when it must first be confirmed."""
        delivery, value, envelope = item.delivery, item.value, item.envelope
        data, problem = self._problem(envelope)
        if (
            problem is not None
            and self.verify_doubtful
            and not confirmed
            and delivery.via != "backfill"
        ):
            item.doubtful = problem
            self._held.setdefault(delivery.origin, {})[envelope.sequence_number] = item
            self._gap_since[delivery.origin] = time.monotonic()
            return False
        state = self._working(delivery.origin)
        now = self._now()
        if problem is not None:
            self._batch.dead_letters.append(
                DeadLetter(
                    origin=delivery.origin,
                    subject=delivery.subject,
                    reason=problem,
                    body=delivery.body,
                    stream_sequence=delivery.stream_sequence,
                    event_id=envelope.id,
                    sequence=envelope.sequence_number,
                )
            )
            state.dead_letters += 1
        elif isinstance(data, CheckpointPublished):
            for name, change in self._verify(state, data, now).items():
                setattr(state, name, change)
        elif data is not None:
            self._batch.events.append(Applicable(delivery.origin, envelope, data))
            state.applied += 1
        state.sequence = envelope.sequence_number
        if item.chained is not None and item.chained[0] == state.running_hash:
            # Its bytes are the ones the source published and hashed: a verified signature
            # further on vouches for them through the chain.
            state.running_hash = item.chained[1]
        else:
            state.running_hash = chain_hash(state.running_hash, canonical_bytes(value))
        state.last_event_time = value["time"]
        state.last_applied_at = now
        self._handled(delivery)
        return True

    @staticmethod
    def _verify(state: SourceState, data: CheckpointPublished, now: str) -> dict[str, Any]:
        matches = (
            data.through_sequence == state.sequence and data.running_hash == state.running_hash
        )
        if matches:
            return {
                "checkpoint_sequence": data.through_sequence,
                "checkpoint_status": "verified",
                "checkpoint_at": now,
            }
        return {
            "checkpoint_sequence": data.through_sequence,
            "checkpoint_status": "diverged",
            "checkpoint_at": now,
            "diverged_at": data.through_sequence,
        }

    def _release_held(self, origin: str) -> None:
        held = self._held.get(origin)
        if not held:
            self._gap_since.pop(origin, None)
            return
        while True:
            state = self._state(origin)
            for stale in [s for s in held if s <= state.sequence]:
                self._duplicate(held.pop(stale).delivery)
            item = held.get(state.sequence + 1)
            if item is None or item.doubtful is not None:
                break
            del held[state.sequence + 1]
            if not self._apply(item):
                break
        if held:
            self._gap_since[origin] = time.monotonic()
        else:
            self._gap_since.pop(origin, None)

    # -- draining ------------------------------------------------------------------------------

    def take(self) -> Batch:
        """Everything ready to be written in one transaction (then acknowledged)."""
        batch, self._batch = self._batch, Batch()
        for origin, state in batch.sources.items():
            held = self._held.get(origin)
            if held:
                first_held_stream = min(
                    (
                        h.delivery.stream_sequence
                        for h in held.values()
                        if h.delivery.stream_sequence is not None
                    ),
                    default=None,
                )
                if first_held_stream is not None and first_held_stream - 1 < state.stream_position:
                    state.stream_position = first_held_stream - 1
        # Until it is committed, what was taken is still the latest state of its sources.
        self._in_flight.update(batch.sources)
        return batch

    def committed(self, batch: Batch) -> None:
        self.sources.update(batch.sources)
        for origin, state in batch.sources.items():
            if self._in_flight.get(origin) is state:
                del self._in_flight[origin]

    def rolled_back(self, sources: Iterable[SourceState]) -> None:
        """The write failed: forget what was pending and start again from what is stored."""
        self.sources = {s.origin: s for s in sources}
        self._in_flight.clear()
        self._held.clear()
        self._gap_since.clear()
        self._batch = Batch()

    # -- gaps ----------------------------------------------------------------------------------

    def gaps(self) -> list[Gap]:
        found = []
        for origin, since in self._gap_since.items():
            held = self._held.get(origin)
            if not held:
                continue
            state = self._state(origin)
            waiting = held.get(state.sequence + 1)
            found.append(
                Gap(
                    origin,
                    state.sequence + 1,
                    min(held),
                    since,
                    doubtful=waiting is not None and waiting.doubtful is not None,
                )
            )
        return found

    def latest(self, origin: str) -> SourceState:
        """The source's state including what is taken or ready but not yet committed."""
        return self._state(origin)

    def pending(self) -> int:
        """Events and dead letters ready to be taken."""
        return len(self._batch.events) + len(self._batch.dead_letters)

    def held_count(self, origin: str | None = None) -> int:
        if origin is not None:
            return len(self._held.get(origin, {}))
        return sum(len(h) for h in self._held.values())
