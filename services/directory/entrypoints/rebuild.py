"""`pls directory rebuild`: the national directory rebuilt beside the live one, then swapped in.

The provinces' agency and personnel events come from their streams and, where those lack history,
from the province nodes' journals; the ministry's upheld complaints from its stream (`PLS_MOJ`)
and the complaints service's journal.
The running directory swaps it in between two batches; with none running it is put in place here.
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
from pls.trust.local import DIRECTORY
from services.directory.application.projection import interested_in
from services.directory.bootstrap import directory_store, projection_over
from services.directory.settings import DirectorySettings


def target_for(federation_file: Path | None) -> Target:
    """The directory's read model and how to reach the running directory: from a `pls up`
    federation.json, or from the environment (`PLS_*`, `PLS_OPERATOR_TOKEN`)."""
    if federation_file is None:
        settings, common = DirectorySettings(), CommonSettings()
        url = f"http://{settings.host}:{settings.port}"
        operator = os.environ.get("PLS_OPERATOR_TOKEN")
    else:
        manifest = Manifest.read(federation_file)
        settings = DirectorySettings(
            provinces=manifest.provinces,
            node_urls=manifest.node_urls(),
            node_token_file=manifest.token_file(DIRECTORY),
            ministry_journal_url=manifest.data["complaints"]["url"]
            if "complaints" in manifest.data
            else None,
        )
        common = manifest.common(DIRECTORY)
        url, operator = manifest.data["directory"]["url"], manifest.operator_token()
    return Target(
        title="the national directory",
        service="directory",
        live=directory_store(settings, common),
        projection_over=projection_over,
        origins=settings.origins,
        journal=JournalClient(settings.journal_urls(), token=settings.journal_token()),
        common=common,
        service_url=url,
        operator_token=operator,
        put=lambda live, fresh, keep: put_in_place(live, fresh, keep_previous=keep),
        interested_in=interested_in,
        registry=common.registry(),
    )


def rebuild_directory(
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
