"""Events handed from the commands straight to the journal writer, and journal entries handed from
the writer straight to the relay, publish exactly what reading them back from storage publishes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pls.publication.journal import Journal, JournalEntry
from pls.publication.relay import Relay
from pls.sqlstore import SQLiteDatabase
from pls.trust.keys import SigningKey
from services.province_node.adapters.views import NodeViews
from services.province_node.application.node import ProvinceNode
from services.province_node.application.publication import PublicationProjection
from tests.unit.samples import CITIZEN, PROVINCE, open_case, register_agency

KEY = SigningKey.generate()


def _node(tmp_path: Path) -> ProvinceNode:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "es.db")}
    return ProvinceNode(PROVINCE, b"guangdong-secret", env=env)


def _projection(node: ProvinceNode, path: Path) -> PublicationProjection:
    return PublicationProjection(node, NodeViews(SQLiteDatabase(path)), signer=KEY)


def _a_day_of_work(node: ProvinceNode) -> None:
    """Cases through their lifecycle, an agency with a person, a complaint through its steps."""
    agency_id = register_agency(node)
    node.add_person(agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number="L-1")
    for n in range(3):
        case = open_case(node, applicant_categories=["low_income", "elderly"][: n + 1])
        node.accept_case(case.id)
        node.assign_case(case.id, agency_id, "p-1")
        node.start_case(case.id)
        node.conclude_case(case.id, "representation_completed", note="判决胜诉")
        node.rate_case(case.id, overall=5, attitude=5, efficiency=4, competence=5)
    rejected = open_case(node, service_type="mediation")
    node.reject_case(rejected.id, "outside_scope", note="不属于受理范围")
    complaint, _ = node.file_complaint(
        complainant=CITIZEN,
        against="agency",
        agency_id=agency_id,
        person_id="p-1",
        category="attitude",
        channel="web",
        service_type="legal_aid",
        case_id=None,
        description="态度不好",
    )
    node.change_complaint_status(complaint.id, "accepted")
    node.suspend_licence(agency_id, "sanction", None, note="整改")


def _journal(projection: PublicationProjection) -> list[JournalEntry]:
    while projection.run_once():
        pass
    return projection.store.journal_after(0, 10_000)


def test_the_journal_from_handed_over_events_is_the_journal_read_back_from_the_log(
    tmp_path: Path,
) -> None:
    node = _node(tmp_path)
    handed = _projection(node, tmp_path / "handed.db")
    node.on_recorded.append(handed.notify)
    reads: list[int] = []
    select = node.recorder.select_notifications

    def counted(*args: Any, **kwargs: Any) -> Any:
        found = select(*args, **kwargs)
        reads.append(len(found))
        return found

    node.recorder.select_notifications = counted  # type: ignore[method-assign]
    _a_day_of_work(node)
    _journal(handed)
    # Every event was taken as handed over; the log was looked at once, when the writer found
    # nothing more handed over for the first time, and not again after later batches.
    assert reads == [0]
    open_case(node)
    from_memory = _journal(handed)
    assert reads == [0]
    node.recorder.select_notifications = select  # type: ignore[method-assign]

    read_back = _journal(_projection(node, tmp_path / "read.db"))
    assert len(from_memory) == len(read_back) == 27
    assert [e.body for e in from_memory] == [e.body for e in read_back]
    assert from_memory[-1].running_hash == read_back[-1].running_hash


def test_events_missing_from_the_handover_are_read_from_the_log(tmp_path: Path) -> None:
    node = _node(tmp_path)
    handed = _projection(node, tmp_path / "handed.db")
    node.on_recorded.append(lambda recordings: handed.notify(recordings[1:]))  # lose the first
    for _ in range(4):
        open_case(node)  # one event a command
    journal = _journal(handed)
    assert [e.sequence for e in journal] == [1, 2, 3, 4]
    reference = _journal(_projection(node, tmp_path / "read.db"))
    assert [e.body for e in journal] == [e.body for e in reference]


def test_events_never_reported_are_read_from_the_log_after_a_quiet_while(tmp_path: Path) -> None:
    node = _node(tmp_path)
    writer = _projection(node, tmp_path / "handed.db")
    node.on_recorded.append(writer.notify)
    writer.start()
    try:
        open_case(node)
        assert writer.wait_for(1)
        node.on_recorded.clear()  # say, a command committed by another process
        open_case(node)
        assert writer.wait_for(2, timeout=3.0)
    finally:
        writer.stop()
    assert [e.sequence for e in writer.store.journal_after(0, 10)] == [1, 2]


def _entries(db: SQLiteDatabase, count: int) -> list[JournalEntry]:
    Journal(db)  # makes the tables
    entries = [
        JournalEntry(n, f"id-{n}", "pls.440000.case.opened", "t", b"{}", f"{n:064d}")
        for n in range(1, count + 1)
    ]
    with db.transaction() as cursor:
        Journal.append(cursor, [(*vars(e).values(), "2026-11-27") for e in entries])
    return entries


async def test_the_relay_takes_appended_entries_and_reads_the_journal_after_a_gap(
    tmp_path: Path,
) -> None:
    db = SQLiteDatabase(tmp_path / "node.db")
    entries = _entries(db, 6)
    relay = Relay(Journal(db), origin="440000", nats_url="nats://127.0.0.1:1", batch_size=3)
    relay.journal_appended(entries[0:2])
    relay.journal_appended(entries[3:6])  # the writer's report of 3 never came
    assert relay._take_appended() == entries[0:2]
    relay.position = 2  # published
    assert relay._take_appended() == []  # 3 is missing: read the journal
    assert relay._next_batch() == entries[2:5]  # three, the batch size
    relay.position = 5
    assert relay._take_appended() == entries[5:6]
    db.close()


async def test_a_pending_rewind_is_read_from_the_journal_not_from_what_was_appended(
    tmp_path: Path,
) -> None:
    db = SQLiteDatabase(tmp_path / "node.db")
    entries = _entries(db, 4)
    relay = Relay(Journal(db), origin="440000", nats_url="nats://127.0.0.1:1")
    relay.position = 2
    relay.journal_appended(entries[2:4])
    relay.rewind(0)
    assert relay._take_appended() == []
    assert relay._next_batch() == entries
    assert Journal(db).position("relay") == 0
    db.close()
