"""`pls hub rebuild`: a new national read model beside the live one, then swapped in.

The rebuild runs in this process (so the live hub keeps its whole machine to itself): every
province's history from its stream, and from its node's journal where the stream lacks it, with a
progress bar. Then the running hub is asked to swap it in (it brings it level between two
batches first); when no hub runs, it is put in place here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import nats
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pls.intake.backfill import JournalClient
from pls.rebuild import Progress as Step
from pls.rebuild import Rebuilder, Store, behind, carry_over, put_in_place, summary
from pls.settings import CommonSettings
from services.ministry_hub.bootstrap import hub_store, projection_over
from services.ministry_hub.settings import HubSettings


def settings_for(federation_file: Path | None) -> tuple[HubSettings, CommonSettings, str]:
    """The hub's settings, from a `pls up` federation.json or from the environment."""
    if federation_file is None:
        settings = HubSettings()
        return settings, CommonSettings(), f"http://{settings.host}:{settings.port}"
    manifest = json.loads(federation_file.read_text())
    provinces = manifest["provinces"]
    settings = HubSettings(
        provinces=list(provinces),
        node_urls={code: entry["url"] for code, entry in provinces.items()},
    )
    common = CommonSettings(nats_url=manifest["nats"]["url"], var_dir=Path(manifest["var_dir"]))
    return settings, common, manifest["hub"]["url"]


async def _rebuild(
    rebuilder_args: dict[str, Any], nats_url: str | None, bar: Progress, console: Console
) -> Rebuilder:
    client = None
    if nats_url is not None:
        try:
            client = await nats.connect(nats_url, connect_timeout=3, max_reconnect_attempts=0)
        except Exception as error:
            console.print(f"[yellow]NATS unreachable ({error}); using the journals only.[/yellow]")
    task = bar.add_task("rebuilding", total=None)

    def shown(step: Step) -> None:
        bar.update(
            task,
            total=step.total or None,
            completed=step.done,
            description=f"{step.origin} from its {step.source}",
        )

    rebuilder = Rebuilder(
        **rebuilder_args,
        js=client.jetstream(timeout=10) if client is not None else None,
        on_progress=shown,
    )
    try:
        await rebuilder.run()
    finally:
        if client is not None:
            await client.close()
        await rebuilder_args["journal"].close()
    return rebuilder


def rebuild_hub(
    console: Console,
    *,
    federation_file: Path | None,
    use_streams: bool,
    swap: bool,
    keep_previous: bool,
    hub_url: str | None,
) -> int:
    settings, common, default_hub = settings_for(federation_file)
    live = hub_store(settings, common)
    fresh = live.beside()
    fresh.drop()
    console.print(f"Rebuilding the national read model at {fresh.describe()} ...")
    token = settings.journal_token.get_secret_value() if settings.journal_token else None
    database = fresh.open()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            rebuilder = asyncio.run(
                _rebuild(
                    {
                        "projection": projection_over(database, settings),
                        "origins": settings.provinces,
                        "journal": JournalClient(
                            {p: settings.node_url(p) for p in settings.provinces}, token=token
                        ),
                    },
                    common.nats_url if use_streams else None,
                    bar,
                    console,
                )
            )
    finally:
        database.close()
    _report(console, rebuilder)
    if not swap:
        console.print(
            f"Left at {fresh.describe()}; swap it in with POST /v1/admin/read-model/promote."
        )
        return 0
    return _swap(console, live, fresh, hub_url or default_hub, keep_previous)


def _report(console: Console, rebuilder: Rebuilder) -> None:
    table = Table(title="Rebuilt")
    for column in (
        "province",
        "sequence",
        "journal head",
        "verified",
        "from stream",
        "from journal",
    ):
        table.add_column(column)
    for origin, row in summary(rebuilder)["sources"].items():
        table.add_row(
            origin,
            str(row["sequence"]),
            str(row["head"]),
            {True: "yes", False: "NO", None: "-"}[row["verified"]],
            str(row.get("stream", 0)),
            str(row.get("journal", 0)),
        )
    console.print(table)


def _swap(console: Console, live: Store, fresh: Store, hub_url: str, keep_previous: bool) -> int:
    try:
        response = httpx.post(
            f"{hub_url.rstrip('/')}/v1/admin/read-model/promote",
            json={"keep_previous": keep_previous},
            timeout=300,
        )
    except httpx.ConnectError:
        return _swap_offline(console, live, fresh, keep_previous)
    if response.status_code != 200:
        console.print(f"[red]The hub did not swap it in:[/red] {response.text}")
        return 1
    console.print(f"The running hub at {hub_url} swapped it in: {live.describe()}.")
    return 0


def _swap_offline(console: Console, live: Store, fresh: Store, keep_previous: bool) -> int:
    if live.exists():
        current, rebuilt = live.open(), fresh.open()
        try:
            short = behind(current, rebuilt)
            if short:
                console.print(f"[red]The rebuilt read model is behind the live one:[/red] {short}")
                return 1
            carry_over(current, rebuilt)
        finally:
            current.close()
            rebuilt.close()
    put_in_place(live, fresh, keep_previous=keep_previous)
    console.print(f"No hub is running; the rebuilt read model is now {live.describe()}.")
    return 0
