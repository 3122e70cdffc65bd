"""`pls hub rebuild`: a new national read model beside the live one, then swapped in.

The rebuild runs in this command's processes, not the hub's: every province's history from its
stream, and from its node's journal where the stream lacks it, with a progress bar. The provinces
are dealt out over `--workers` processes (one a core by default), whose read models are then
added up into one. Then the running hub is asked to swap it in (it brings it level between two
batches first); when no hub runs, it is put in place here (`pls.rebuild_command`).
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from pls.intake.backfill import JournalClient
from pls.manifest import Manifest
from pls.rebuild import put_in_place
from pls.rebuild_command import Target, run_rebuild
from pls.settings import CommonSettings
from pls.trust.local import HUB
from services.ministry_hub.adapters.readmodel import SHARD_TABLES
from services.ministry_hub.bootstrap import hub_store, projection_over
from services.ministry_hub.settings import HubSettings


def target_for(federation_file: Path | None) -> Target:
    """The hub's read model and how to reach the running hub: from a `pls up` federation.json,
    or from the environment (`PLS_*`, `PLS_OPERATOR_TOKEN`)."""
    if federation_file is None:
        settings, common = HubSettings(), CommonSettings()
        url, operator = (
            f"http://{settings.host}:{settings.port}",
            os.environ.get("PLS_OPERATOR_TOKEN"),
        )
    else:
        manifest = Manifest.read(federation_file)
        settings = HubSettings(
            provinces=manifest.provinces,
            node_urls=manifest.node_urls(),
            node_token_file=manifest.token_file(HUB),
        )
        common = manifest.common(HUB)
        url, operator = manifest.data["hub"]["url"], manifest.operator_token()
    return Target(
        title="the national read model",
        service="hub",
        live=hub_store(settings, common),
        projection_over=lambda db: projection_over(db, settings),
        origins=settings.provinces,
        journal=JournalClient(
            {p: settings.node_url(p) for p in settings.provinces}, token=settings.journal_token()
        ),
        common=common,
        service_url=url,
        operator_token=operator,
        put=lambda live, fresh, keep: put_in_place(live, fresh, keep_previous=keep),
        registry=common.registry(),
        shard_tables=SHARD_TABLES,
    )


def rebuild_hub(
    console: Console,
    *,
    federation_file: Path | None,
    use_streams: bool,
    swap: bool,
    keep_previous: bool,
    hub_url: str | None,
    workers: int = 1,
) -> int:
    return run_rebuild(
        console,
        target_for(federation_file),
        use_streams=use_streams,
        swap=swap,
        keep_previous=keep_previous,
        service_url=hub_url,
        workers=workers,
    )
