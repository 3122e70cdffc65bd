"""`pls hub rebuild`: a new national read model beside the live one, then swapped in.

The rebuild runs in this process (so the live hub keeps its whole machine to itself): every
province's history from its stream, and from its node's journal where the stream lacks it, with a
progress bar. Then the running hub is asked to swap it in (it brings it level between two
batches first); when no hub runs, it is put in place here.
"""

from __future__ import annotations

import asyncio
import json
import os
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
from pls.trust.local import HUB
from pls.trust.natsconfig import inbox_prefix
from services.ministry_hub.bootstrap import hub_store, projection_over
from services.ministry_hub.settings import HubSettings


def settings_for(
    federation_file: Path | None,
) -> tuple[HubSettings, CommonSettings, str, str | None]:
    """The hub's settings and identity, and an operator token to ask the running hub to swap:
    from a `pls up` federation.json, or from the environment (`PLS_*`, `PLS_OPERATOR_TOKEN`)."""
    if federation_file is None:
        settings = HubSettings()
        operator = os.environ.get("PLS_OPERATOR_TOKEN")
        return settings, CommonSettings(), f"http://{settings.host}:{settings.port}", operator
    manifest = json.loads(federation_file.read_text())
    provinces = manifest["provinces"]
    trust = manifest.get("trust", {})
    tokens = Path(trust["tokens"]) if trust.get("tokens") else None
    settings = HubSettings(
        provinces=list(provinces),
        node_urls={code: entry["url"] for code, entry in provinces.items()},
        node_token_file=tokens / f"{HUB}.jwt" if tokens else None,
    )
    common = CommonSettings(
        nats_url=manifest["nats"]["url"],
        var_dir=Path(manifest["var_dir"]),
        trust_registry=Path(trust["registry"]) if trust.get("registry") else None,
        member_id=HUB,
        nats_creds=Path(trust["nats_credentials"]) / f"{HUB}.nk"
        if trust.get("nats_credentials")
        else None,
    )
    operator_file = tokens / "federation-operator.jwt" if tokens else None
    operator = (
        operator_file.read_text().strip() if operator_file and operator_file.exists() else None
    )
    return settings, common, manifest["hub"]["url"], operator


async def _rebuild(
    rebuilder_args: dict[str, Any], common: CommonSettings | None, bar: Progress, console: Console
) -> Rebuilder:
    client = None
    if common is not None:
        try:
            client = await nats.connect(
                common.nats_url,
                connect_timeout=3,
                max_reconnect_attempts=0,
                nkeys_seed=str(common.nats_creds) if common.nats_creds else None,
                inbox_prefix=inbox_prefix(common.member_id) if common.member_id else "_INBOX",
            )
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
    settings, common, default_hub, operator_token = settings_for(federation_file)
    registry = common.registry()
    live = hub_store(settings, common)
    fresh = live.beside()
    fresh.drop()
    console.print(f"Rebuilding the national read model at {fresh.describe()} ...")
    token = settings.journal_token()
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
                        "registry": registry,
                    },
                    common if use_streams else None,
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
    return _swap(console, live, fresh, hub_url or default_hub, keep_previous, operator_token)


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


def _swap(
    console: Console,
    live: Store,
    fresh: Store,
    hub_url: str,
    keep_previous: bool,
    operator_token: str | None,
) -> int:
    headers = {"Authorization": f"Bearer {operator_token}"} if operator_token else {}
    try:
        response = httpx.post(
            f"{hub_url.rstrip('/')}/v1/admin/read-model/promote",
            json={"keep_previous": keep_previous},
            headers=headers,
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
