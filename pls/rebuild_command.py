"""`pls <service> rebuild`: a read model rebuilt beside the live one, then swapped in.

The rebuild runs in the command's own process (so the live service keeps its machine to itself):
every source's history from its stream, and from its node's journal where the stream lacks it,
with a progress bar. Then the running service is asked to swap it in (it brings it level between
two batches first); when none runs, it is put in place here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pls.intake.applier import Projection
from pls.intake.backfill import JournalClient
from pls.rebuild import Progress as Step
from pls.rebuild import Rebuilder, Store, behind, carry_over, summary
from pls.serve import settle_memory
from pls.settings import CommonSettings
from pls.sqlstore import Database
from pls.trust.natsconfig import inbox_prefix
from pls.trust.registry import FederationRegistry


@dataclass
class Manifest:
    """What a `pls up` federation.json says about where things are and who a service is."""

    data: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(json.loads(path.read_text()))

    @property
    def provinces(self) -> list[str]:
        return list(self.data["provinces"])

    def node_urls(self) -> dict[str, str]:
        return {code: entry["url"] for code, entry in self.data["provinces"].items()}

    def token_file(self, name: str) -> Path | None:
        tokens = self.data.get("trust", {}).get("tokens")
        return Path(tokens) / f"{name}.jwt" if tokens else None

    def operator_token(self) -> str | None:
        path = self.token_file("federation-operator")
        return path.read_text().strip() if path and path.exists() else None

    def common(self, member: str) -> CommonSettings:
        trust = self.data.get("trust", {})
        return CommonSettings(
            nats_url=self.data["nats"]["url"],
            var_dir=Path(self.data["var_dir"]),
            trust_registry=Path(trust["registry"]) if trust.get("registry") else None,
            member_id=member,
            nats_creds=Path(trust["nats_credentials"]) / f"{member}.nk"
            if trust.get("nats_credentials")
            else None,
        )


@dataclass
class Target:
    """One service's read model to rebuild, and how it is swapped in."""

    title: str  # "the national read model"
    service: str  # "hub": used in messages and `pls <service> rebuild`
    live: Store
    projection_over: Callable[[Database], Projection]
    origins: list[str]
    journal: JournalClient
    common: CommonSettings
    service_url: str
    operator_token: str | None
    put: Callable[[Store, Store, bool], None]  # (live, fresh, keep_previous), nothing open
    interested_in: Callable[[str], bool] | None = None
    registry: FederationRegistry | None = None
    settle: Callable[[Database], None] | None = None  # what it takes from elsewhere, at the end


async def _rebuild(
    target: Target, database: Database, use_streams: bool, bar: Progress, console: Console
) -> Rebuilder:
    client = None
    if use_streams:
        common = target.common
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
        target.projection_over(database),
        target.origins,
        journal=target.journal,
        bus=client,
        interested_in=target.interested_in,
        on_progress=shown,
        registry=target.registry,
    )
    try:
        await rebuilder.run()
    finally:
        if client is not None:
            await client.close()
        await target.journal.close()
    return rebuilder


def run_rebuild(
    console: Console,
    target: Target,
    *,
    use_streams: bool,
    swap: bool,
    keep_previous: bool,
    service_url: str | None = None,
) -> int:
    """Rebuild beside the live read model, then have the running service (or this process) swap
    it in. Returns the exit status."""
    fresh = target.live.beside()
    fresh.drop()
    console.print(f"Rebuilding {target.title} at {fresh.describe()} ...")
    database = fresh.open()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            settle_memory()
            rebuilder = asyncio.run(_rebuild(target, database, use_streams, bar, console))
        if target.settle is not None:
            target.settle(database)
    finally:
        database.close()
    _report(console, rebuilder)
    if not swap:
        console.print(
            f"Left at {fresh.describe()}; swap it in with POST /v1/admin/read-model/promote."
        )
        return 0
    return _swap(console, target, fresh, service_url or target.service_url, keep_previous)


def _report(console: Console, rebuilder: Rebuilder) -> None:
    table = Table(title="Rebuilt")
    for column in ("source", "sequence", "journal head", "verified", "from stream", "from journal"):
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


def _swap(console: Console, target: Target, fresh: Store, url: str, keep_previous: bool) -> int:
    headers = {"Authorization": f"Bearer {target.operator_token}"} if target.operator_token else {}
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/v1/admin/read-model/promote",
            json={"keep_previous": keep_previous},
            headers=headers,
            timeout=300,
        )
    except httpx.ConnectError:
        return _swap_offline(console, target, fresh, keep_previous)
    if response.status_code != 200:
        console.print(f"[red]The {target.service} did not swap it in:[/red] {response.text}")
        return 1
    console.print(f"The running {target.service} at {url} swapped it in: {target.live.describe()}.")
    return 0


def _swap_offline(console: Console, target: Target, fresh: Store, keep_previous: bool) -> int:
    live = target.live
    if live.exists():
        current, rebuilt = live.open(), fresh.open()
        try:
            short = behind(current, rebuilt)
            if short:
                console.print(f"[red]The rebuilt read model is behind the live one:[/red] {short}")
                return 1
            carry_over(current, rebuilt)
            if target.settle is not None:
                target.settle(rebuilt)
        finally:
            current.close()
            rebuilt.close()
    target.put(live, fresh, keep_previous)
    console.print(
        f"No {target.service} is running; the rebuilt read model is now {live.describe()}."
    )
    return 0
