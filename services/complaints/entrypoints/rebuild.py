"""`pls complaints rebuild`: the supervision read model rebuilt beside the live one, swapped in.

The provinces' complaint and case events come from their streams and, where those lack history,
from the province nodes' journals. The service's own decisions (its event store and journal) are
its system of record and are not rebuilt: the rebuilt read model takes from them what the watch
has already decided, so nothing is decided or published again. The running service swaps it in
between two batches; with none running, its tables are put in place here.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from pls.clock import Timeline
from pls.deadlines import WorkingCalendar
from pls.intake.backfill import JournalClient
from pls.manifest import Manifest
from pls.rebuild import Store, put_tables_in_place
from pls.rebuild_command import Target, run_rebuild
from pls.settings import CommonSettings
from pls.sqlstore import Database
from pls.trust.local import COMPLAINTS
from services.complaints.adapters.readmodel import SupervisionReadModel
from services.complaints.adapters.rules import load_rules
from services.complaints.application.projection import interested_in
from services.complaints.application.recorded import Recorded, settle
from services.complaints.application.supervision import Supervision
from services.complaints.bootstrap import (
    READ_MODEL_TABLES,
    complaints_store,
    projection_over,
    timeline_for,
)
from services.complaints.domain.rules import DeadlineClock
from services.complaints.settings import ComplaintsSettings


def target_for(federation_file: Path | None) -> Target:
    """The supervision read model and how to reach the running service: from a `pls up`
    federation.json, or from the environment (`PLS_*`, `PLS_OPERATOR_TOKEN`)."""
    if federation_file is None:
        settings, common = ComplaintsSettings(), CommonSettings()
        url = f"http://{settings.host}:{settings.port}"
        operator = os.environ.get("PLS_OPERATOR_TOKEN")
    else:
        manifest = Manifest.read(federation_file)
        entry = manifest.data["complaints"]
        settings = ComplaintsSettings(
            provinces=manifest.provinces,
            node_urls=manifest.node_urls(),
            node_token_file=manifest.token_file(COMPLAINTS),
            time_scale=entry.get("time_scale", 1.0),
        )
        common = manifest.common(COMPLAINTS)
        url, operator = entry["url"], manifest.operator_token()
    live = complaints_store(settings, common)
    rules = load_rules(settings.rules)
    clock = DeadlineClock(WorkingCalendar(), _timeline(settings, live))

    def settle_from_decisions(db: Database) -> None:
        supervision = Supervision(env=settings.eventsourcing_env(common.var_dir))
        try:
            settle(db, Recorded.read(supervision))
        finally:
            supervision.close()

    return Target(
        title="the supervision read model",
        service="complaints service",
        live=live,
        projection_over=lambda db: projection_over(db, rules, clock),
        origins=settings.provinces,
        journal=JournalClient(
            {p: settings.node_url(p) for p in settings.provinces}, token=settings.journal_token()
        ),
        common=common,
        service_url=url,
        operator_token=operator,
        put=_put,
        interested_in=interested_in,
        registry=common.registry(),
        settle=settle_from_decisions,
    )


def _timeline(settings: ComplaintsSettings, live: Store) -> Timeline:
    """The live service's supervised time (a compressed one starts at the epoch it keeps)."""
    if settings.time_scale == 1.0:
        return Timeline()
    db = live.open()
    try:
        return timeline_for(settings, SupervisionReadModel(db))
    finally:
        db.close()


def _put(live: Store, fresh: Store, keep_previous: bool) -> None:
    db = live.open()
    try:
        SupervisionReadModel(db)  # a service that never ran has no tables to replace yet
    finally:
        db.close()
    put_tables_in_place(live, fresh, READ_MODEL_TABLES, keep_previous=keep_previous)


def rebuild_complaints(
    console: Console,
    *,
    federation_file: Path | None,
    use_streams: bool,
    swap: bool,
    keep_previous: bool,
    url: str | None,
) -> int:
    return run_rebuild(
        console,
        target_for(federation_file),
        use_streams=use_streams,
        swap=swap,
        keep_previous=keep_previous,
        service_url=url,
    )
