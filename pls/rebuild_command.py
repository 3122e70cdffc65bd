"""`pls <service> rebuild`: a read model rebuilt beside the live one, then swapped in.

The rebuild runs in the command's own processes, not the live service's: every source's history
from its stream, and from its node's journal where the stream lacks it, with a progress bar. A
read model whose rows each belong to one origin (`Target.shard_tables`) can be rebuilt by several
processes at once, each from some of the origins into a read model of its own (a shard), which
are then added up into one and its derived views made once. Then the running service is asked to
swap it in (it brings it level between two batches first); when none runs, it is put in place
here.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import nats
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pls.intake.applier import Projection
from pls.intake.backfill import JournalClient
from pls.rebuild import (
    REBUILD_CACHE_MB,
    Rebuilder,
    Store,
    absorb_tables,
    behind,
    carry_over,
    split_origins,
    summary,
)
from pls.rebuild import Progress as Step
from pls.serve import settle_memory
from pls.settings import CommonSettings
from pls.sqlstore import Database
from pls.trust.natsconfig import inbox_prefix
from pls.trust.registry import FederationRegistry


@dataclass
class Target:
    """One service's read model to rebuild, and how it is swapped in."""

    title: str  # "the national read model"
    service: str  # "hub": used in messages and `pls <service> rebuild`
    live: Store
    projection_over: Callable[[Database], Projection]
    origins: list[str]
    journal: JournalClient | None
    common: CommonSettings
    service_url: str
    operator_token: str | None
    put: Callable[[Store, Store, bool], None]  # (live, fresh, keep_previous), nothing open
    interested_in: Callable[[str], bool] | None = None
    registry: FederationRegistry | None = None
    settle: Callable[[Database], None] | None = None  # what it takes from elsewhere, at the end
    # Tables each of whose rows belongs to one origin, and hold every row there is but for views
    # derived from them: the origins may be rebuilt in several processes and these added up.
    shard_tables: Sequence[str] = ()


def default_workers() -> int:
    """Processes for a rebuild: one a core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


async def _rebuild(
    target: Target,
    projection: Projection,
    use_streams: bool,
    on_progress: Callable[[Step], None],
    warn: Callable[[str], None],
    *,
    finish_bulk_load: bool = True,
) -> dict[str, Any]:
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
            warn(f"NATS unreachable ({error}); using the journals only.")
    rebuilder = Rebuilder(
        projection,
        target.origins,
        journal=target.journal,
        bus=client,
        interested_in=target.interested_in,
        on_progress=on_progress,
        registry=target.registry,
        finish_bulk_load=finish_bulk_load,
    )
    try:
        await rebuilder.run()
    finally:
        if client is not None:
            await client.close()
        if target.journal is not None:
            await target.journal.close()
    return {**summary(rebuilder), "processes": [_memory(target.origins)]}


def _memory(origins: Sequence[str]) -> dict[str, Any]:
    """This process's origins and memory: its peak resident set (VmHWM, which for a forked
    worker counts the pages it still shares with the process it was forked from) and its
    proportional share now (Pss: each shared page divided among the processes sharing it)."""
    figures = {"origins": list(origins), "pid": os.getpid()}
    for name, key in (("/proc/self/status", "VmHWM:"), ("/proc/self/smaps_rollup", "Pss:")):
        with contextlib.suppress(OSError):
            for line in Path(name).read_text().splitlines():
                if line.startswith(key):
                    figures[f"{key.rstrip(':').lower()}_mb"] = round(int(line.split()[1]) / 1024, 1)
                    break
    return figures


def _shard(
    index: int,
    target: Target,
    shard: Store,
    use_streams: bool,
    updates: multiprocessing.Queue[Any],
) -> None:
    """In worker process `index`: rebuild `target.origins` into `shard`, reporting on `updates`."""
    try:
        database = shard.open(cache_mb=REBUILD_CACHE_MB)
        try:
            result = asyncio.run(
                _rebuild(
                    target,
                    target.projection_over(database),
                    use_streams,
                    lambda step: updates.put(("progress", index, step)),
                    lambda text: updates.put(("warning", index, text)),
                    finish_bulk_load=False,
                )
            )
        finally:
            database.close()
    except BaseException as error:
        updates.put(("failed", index, f"{type(error).__name__}: {error}"))
        raise
    updates.put(("done", index, result))


class ShardFailed(RuntimeError):
    """A worker process of a rebuild did not finish its origins."""


def rebuild_into(
    target: Target,
    fresh: Store,
    *,
    use_streams: bool,
    workers: int = 1,
    on_progress: Callable[[Step], None] = lambda step: None,
    warn: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Rebuild every origin of `target` into the read model at `fresh`; returns the summary.

    With `workers` > 1 and a target whose rows each belong to one origin, the origins are dealt
    out: this process rebuilds the first share into `fresh` and each other share is rebuilt by a
    process of its own (forked from this one, before anything is opened) into a shard beside it.
    The shards' rows are then added in, and the views derived from them made once over all
    origins."""
    groups = split_origins(target.origins, workers) if target.shard_tables else [target.origins]
    if len(groups) == 1:
        database = fresh.open(cache_mb=REBUILD_CACHE_MB)
        try:
            projection = target.projection_over(database)
            return asyncio.run(_rebuild(target, projection, use_streams, on_progress, warn))
        finally:
            database.close()
    context = multiprocessing.get_context("fork")  # the target holds callables: inherit them
    updates: multiprocessing.Queue[Any] = context.Queue()
    shards = [fresh.beside(f"shard{i}") for i in range(1, len(groups))]
    processes = []
    for index, (shard, origins) in enumerate(zip(shards, groups[1:], strict=True), start=1):
        shard.drop()
        process = context.Process(
            target=_shard,
            args=(index, replace(target, origins=origins), shard, use_streams, updates),
            name=f"rebuild-{shard.describe()}",
        )
        process.start()
        processes.append(process)
    steps: dict[int, Step] = {}  # each process's latest report
    results: list[dict[str, Any]] = []
    failures: list[str] = []

    def handle(message: tuple[str, int, Any]) -> None:
        kind, index, value = message
        if kind == "progress":
            steps[index] = value
        elif kind == "warning":
            warn(value)
        elif kind == "done":
            results.append(value)
        else:
            failures.append(f"worker {index}: {value}")

    def overall(latest: Step) -> Step:
        done = sum(step.done for step in steps.values())
        total = sum(step.total for step in steps.values())
        return Step(latest.origin, done, total, latest.source)

    def shown(step: Step) -> None:
        while True:  # what the other processes reported meanwhile
            try:
                handle(updates.get_nowait())
            except queue.Empty:
                break
        steps[0] = step
        on_progress(overall(step))

    database = fresh.open(cache_mb=REBUILD_CACHE_MB)
    try:
        projection = target.projection_over(database)
        mine = asyncio.run(
            _rebuild(
                replace(target, origins=groups[0]),
                projection,
                use_streams,
                shown,
                warn,
                finish_bulk_load=False,
            )
        )
        while len(results) + len(failures) < len(processes):
            try:
                handle(updates.get(timeout=1.0))
            except queue.Empty:
                if all(p.exitcode is not None for p in processes) and updates.empty():
                    failures.append("a worker process ended without a result")
                    break
                continue
            if steps:
                on_progress(overall(next(reversed(steps.values()))))
        for process in processes:
            process.join()
        if failures:
            raise ShardFailed("; ".join(failures))
        for shard in shards:
            absorb_tables(fresh, shard, target.shard_tables)
        end = getattr(projection, "end_bulk_load", None)
        if end is not None:
            end()
    finally:
        database.close()
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
        for shard in shards:
            shard.drop()
    sources = dict(mine["sources"])
    for result in results:
        sources.update(result["sources"])
    return {
        "sources": {origin: sources[origin] for origin in target.origins if origin in sources},
        "processes": [*mine["processes"], *(p for r in results for p in r["processes"])],
    }


def run_rebuild(
    console: Console,
    target: Target,
    *,
    use_streams: bool,
    swap: bool,
    keep_previous: bool,
    service_url: str | None = None,
    workers: int = 1,
) -> int:
    """Rebuild beside the live read model (in `workers` processes where the read model allows),
    then have the running service (or this process) swap it in. Returns the exit status."""
    fresh = target.live.beside()
    fresh.drop()
    shown_workers = len(split_origins(target.origins, workers)) if target.shard_tables else 1
    processes = f" in {shown_workers} processes" if shown_workers > 1 else ""
    console.print(f"Rebuilding {target.title} at {fresh.describe()}{processes} ...")
    # Redrawn when a batch is written, not by a thread of its own: worker processes are forked.
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=False,
    ) as bar:
        settle_memory()
        task = bar.add_task("rebuilding", total=None)

        def shown(step: Step) -> None:
            bar.update(
                task,
                total=step.total or None,
                completed=step.done,
                description=f"{step.origin} from its {step.source}",
                refresh=True,
            )

        try:
            result = rebuild_into(
                target,
                fresh,
                use_streams=use_streams,
                workers=workers,
                on_progress=shown,
                warn=lambda text: console.print(f"[yellow]{text}[/yellow]"),
            )
        except ShardFailed as error:
            fresh.drop()
            console.print(f"[red]The rebuild failed; nothing was swapped in:[/red] {error}")
            return 1
    if target.settle is not None:
        database = fresh.open()
        try:
            target.settle(database)
        finally:
            database.close()
    _report(console, result)
    if not swap:
        console.print(
            f"Left at {fresh.describe()}; swap it in with POST /v1/admin/read-model/promote."
        )
        return 0
    return _swap(console, target, fresh, service_url or target.service_url, keep_previous)


def _report(console: Console, result: dict[str, Any]) -> None:
    table = Table(title="Rebuilt")
    for column in ("source", "sequence", "journal head", "verified", "from stream", "from journal"):
        table.add_column(column)
    for origin, row in result["sources"].items():
        table.add_row(
            origin,
            str(row["sequence"]),
            str(row["head"]),
            {True: "yes", False: "NO", None: "-"}[row["verified"]],
            str(row.get("stream", 0)),
            str(row.get("journal", 0)),
        )
    console.print(table)
    processes = result.get("processes", [])
    if len(processes) > 1:
        for process in processes:
            console.print(
                f"process {process['pid']}: {', '.join(process['origins'])}; "
                f"peak resident {process.get('vmhwm_mb', '?')} MB, "
                f"proportional {process.get('pss_mb', '?')} MB at its end"
            )


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
