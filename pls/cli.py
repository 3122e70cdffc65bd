"""The `pls` command: `pls up` for a whole local federation, one subcommand per service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contracts.subjects import PROVINCES

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="The public legal service federation: province nodes, ministry hub and tools.",
)
console = Console()
DEFAULT_PROVINCES = "110000,440000,510000"


def _provinces(value: str) -> list[str]:
    if value.strip().lower() == "all":
        return list(PROVINCES)
    codes = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [code for code in codes if code not in PROVINCES]
    if unknown:
        raise typer.BadParameter(f"not provincial platform codes: {', '.join(unknown)}")
    return codes


@app.command()
def up(
    provinces: Annotated[
        str, typer.Option(help="Comma-separated codes, or 'all' for the 32.")
    ] = DEFAULT_PROVINCES,
    rate: Annotated[
        float, typer.Option(help="Simulated cases per second across the federation.")
    ] = 5.0,
    day_seconds: Annotated[float, typer.Option(help="Real seconds per simulated day.")] = 5.0,
    simulate: Annotated[bool, typer.Option(help="Run the traffic simulator.")] = True,
    var_dir: Annotated[Path, typer.Option(help="Where state, logs and federation.json go.")] = Path(
        "var"
    ),
    fresh: Annotated[
        bool, typer.Option(help="Delete earlier state under --var-dir first.")
    ] = False,
    port_offset: Annotated[
        int,
        typer.Option(
            help="Shift every port (NATS 14222, hub 18000, directory 18010, complaints 18020, "
            "nodes 18100+) by this much."
        ),
    ] = 0,
    complaint_rate: Annotated[
        float,
        typer.Option(
            help="Complaints per 10k services: about 3 is realistic; the default shows some at once."
        ),
    ] = 200.0,
    supervise: Annotated[
        bool,
        typer.Option(help="Restart nats-server or a service when its process exits (after 2 s)."),
    ] = True,
    node_processes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes the province nodes run in, each serving some of them on their own "
            "ports; 0: one a CPU core (at least two), at most one a province.",
        ),
    ] = 0,
) -> None:
    """Start a whole local federation: nats-server, hub, complaints supervision, province nodes
    and a traffic simulator. Complaint deadlines run on the simulator's compressed days."""
    from pls import ports
    from pls.federation import Federation, default_node_processes
    from pls.logs import configure_logging

    configure_logging("warning")
    codes = _provinces(provinces)
    # SIGTERM stops `pls up` as Ctrl-C does, also where SIGINT came ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    if fresh and var_dir.exists():
        shutil.rmtree(var_dir)
    federation = Federation(
        var_dir=var_dir,
        provinces=codes,
        nats_port=ports.NATS + port_offset,
        nats_monitor_port=ports.NATS_MONITOR + port_offset,
        hub_port=ports.HUB + port_offset,
        complaints_port=ports.COMPLAINTS + port_offset,
        directory_port=ports.DIRECTORY + port_offset,
        node_ports={code: ports.node_port(code) + port_offset for code in codes},
        day_seconds=day_seconds if simulate else None,
        node_processes=node_processes or default_node_processes(len(codes)),
    )
    console.print(
        f"Starting nats-server, the hub, the directory, complaints supervision and {len(codes)} "
        "province nodes ..."
    )
    try:
        federation.start()
    except Exception as error:
        federation.stop()
        console.print(f"[red]Could not start the federation:[/red] {error}")
        raise typer.Exit(1) from None
    _print_table(federation.manifest())
    console.print(
        f"Wrote {var_dir / 'federation.json'}; tokens are in {var_dir / 'trust' / 'tokens'}."
    )
    console.print("Dashboard for ministry staff (the link carries a token):")
    print(f"  {federation.hub_url}/#token={federation.token('staff')}", flush=True)
    console.print("Ctrl-C stops everything.")
    if supervise:
        import threading

        threading.Thread(
            target=federation.supervise,
            kwargs={"report": lambda line: console.print(f"[yellow]{line}[/yellow]")},
            name="supervise",
            daemon=True,
        ).start()
    try:
        if simulate:
            from pls.manifest import simulator_report
            from pls.simulator.traffic import Simulator

            simulator = Simulator(
                {p: federation.node_url(p) for p in codes},
                rate=rate,
                day_seconds=day_seconds,
                tokens={p: federation.token(f"operator-{p}") for p in codes},
                complaints_per_10k=complaint_rate,
                report=simulator_report(var_dir),
            )
            asyncio.run(simulator.run())
        else:
            asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping ...")
        federation.stop()


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops `pls up` as Ctrl-C does: while the simulator runs, asyncio then cancels
    its tasks instead of a KeyboardInterrupt landing in whichever task was running."""
    signal.raise_signal(signal.SIGINT)


def _print_table(manifest: dict[str, object]) -> None:
    table = Table(title="Local federation")
    table.add_column("service")
    table.add_column("URL")
    table.add_row("nats-server", str(manifest["nats"]["url"]))  # type: ignore[index]
    table.add_row("ministry hub (dashboard, /docs)", str(manifest["hub"]["url"]))  # type: ignore[index]
    table.add_row("directory (/organizations, /docs)", str(manifest["directory"]["url"]))  # type: ignore[index]
    table.add_row("complaints supervision (/docs)", str(manifest["complaints"]["url"]))  # type: ignore[index]
    for code, node in manifest["provinces"].items():  # type: ignore[attr-defined]
        table.add_row(f"province node {code} {node['name']}", node["url"])
    console.print(table)


node_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    help="Run one province node (what its container runs), or back it up and restore it.",
)
app.add_typer(node_app, name="node")


@node_app.callback()
def node(
    context: typer.Context,
    province: Annotated[
        str | None,
        typer.Option(
            help="Six-digit province code, e.g. 440000; several, comma-separated, run as "
            "separate nodes in one process, each on its own port."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listening port (default 18100 + index).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listening address.")] = None,
) -> None:
    """Run one province node (what its container runs), or several in one process."""
    if context.invoked_subcommand is not None:
        return
    if province is None:
        raise typer.BadParameter("--province is required to run a node")
    codes = _provinces(province)
    if port is not None and len(codes) > 1:
        raise typer.BadParameter("--port names one node's port: give it with one --province only")
    from fastapi import FastAPI

    from pls.serve import prepare, serve, serve_many
    from pls.settings import CommonSettings, for_province
    from services.province_node.bootstrap import build_runtime, create_app
    from services.province_node.settings import NodeSettings

    overrides: dict[str, object] = {}
    if port is not None:
        overrides["port"] = port
    if host is not None:
        overrides["host"] = host
    nodes: list[tuple[FastAPI, NodeSettings]] = []
    for code in codes:
        settings = for_province(NodeSettings, code, {"province": code, **overrides})
        common = for_province(CommonSettings, code)
        if not nodes:
            prepare(common, f"province-node-{code}" if len(codes) == 1 else "province-nodes")
        nodes.append((create_app(build_runtime(settings, common)), settings))
    if len(nodes) == 1:
        app, settings = nodes[0]
        serve(app, settings.host, settings.listen_port())
    else:
        serve_many([(app, settings.host, settings.listen_port()) for app, settings in nodes])


def _node_database(province: str) -> Path:
    from pls.settings import CommonSettings
    from services.province_node.settings import NodeSettings

    url = NodeSettings(province=province).database_url(CommonSettings().var_dir)
    if url.startswith(("postgresql://", "postgres://")):
        console.print(
            "[red]This node keeps its event store in PostgreSQL:[/red] back it up with "
            "pg_dump/pg_restore of its schema."
        )
        raise typer.Exit(2)
    return Path(url)


@node_app.command("backup")
def node_backup(
    province: Annotated[str, typer.Option(help="Six-digit province code.")],
    to: Annotated[Path, typer.Option("--to", help="The backup file to write.")],
) -> None:
    """Back up a node's database (event store, views, journal) while it runs."""
    from services.province_node.adapters.backup import BackupError, backup

    database = _node_database(_provinces(province)[0])
    try:
        report = backup(database, to)
    except BackupError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"Backed up {database} to {report.path} ({report.bytes} bytes): journal through "
        f"sequence {report.journal_sequence}, {report.notifications} stored events."
    )


@node_app.command("restore")
def node_restore(
    province: Annotated[str, typer.Option(help="Six-digit province code.")],
    source: Annotated[Path, typer.Option("--from", help="The backup file to restore.")],
    force: Annotated[
        bool, typer.Option(help="Restore even though the node seems to be running.")
    ] = False,
) -> None:
    """Put a backup in place of a stopped node's database (what was there is kept beside it)."""
    import httpx

    from services.province_node.adapters.backup import BackupError, restore

    code = _provinces(province)[0]
    database = _node_database(code)
    if not force:
        from services.province_node.settings import NodeSettings

        port = NodeSettings(province=code).listen_port()
        try:
            running = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            running = False
        if running:
            console.print(
                f"[red]The node for {code} answers on port {port}:[/red] stop it first "
                "(or pass --force if that is another process)."
            )
            raise typer.Exit(1)
    try:
        report, kept = restore(source, database)
    except BackupError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"Restored {database} from {source}: journal through sequence "
        f"{report.journal_sequence}; the relay publishes again from {report.relay_position}."
    )
    if kept is not None:
        console.print(f"The replaced database is kept at {kept}.")


@app.command()
def relay(
    province: Annotated[str, typer.Option(help="Six-digit province code, e.g. 440000.")],
    port: Annotated[
        int | None, typer.Option(help="Port for health and metrics (default 18200 + index).")
    ] = None,
) -> None:
    """Run a province's relay as its own process, over the node's database (the node then runs
    with PLS_NODE_RELAY_ENABLED=false)."""
    from pls.serve import prepare, serve
    from pls.settings import CommonSettings
    from services.province_node.bootstrap import create_relay_app
    from services.province_node.settings import NodeSettings

    overrides: dict[str, object] = {"province": province}
    if port is not None:
        overrides["relay_port"] = port
    settings = NodeSettings(**overrides)  # type: ignore[arg-type]
    common = CommonSettings()
    prepare(common, f"relay-{province}")
    serve(create_relay_app(settings, common), settings.host, settings.relay_listen_port())


FederationOption = Annotated[
    Path | None,
    typer.Option(
        "--federation",
        help="federation.json of a `pls up` federation (else PLS_* settings are used).",
    ),
]
SourceOption = Annotated[
    str,
    typer.Option(
        "--from",
        help="streams: the streams, and the journals where they lack history; "
        "journals: the province journals only.",
    ),
]
SwapOption = Annotated[bool, typer.Option(help="Swap the rebuilt read model in when it is done.")]
KeepPreviousOption = Annotated[
    bool, typer.Option(help="Keep the replaced read model beside the new one.")
]


def _use_streams(source: str) -> bool:
    if source not in ("streams", "journals"):
        raise typer.BadParameter("--from is streams or journals")
    return source == "streams"


hub_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    help="Run the ministry hub (what its container runs), or rebuild its read model.",
)
app.add_typer(hub_app, name="hub")


@hub_app.callback()
def hub(
    context: typer.Context,
    port: Annotated[int | None, typer.Option(help="Listening port (default 18000).")] = None,
    host: Annotated[str | None, typer.Option(help="Listening address.")] = None,
) -> None:
    """Run the ministry hub (what its container runs)."""
    if context.invoked_subcommand is not None:
        return
    from pls.serve import prepare, serve
    from pls.settings import CommonSettings
    from services.ministry_hub.bootstrap import build_runtime, create_app
    from services.ministry_hub.settings import HubSettings

    overrides: dict[str, object] = {}
    if port is not None:
        overrides["port"] = port
    if host is not None:
        overrides["host"] = host
    settings = HubSettings(**overrides)  # type: ignore[arg-type]
    common = CommonSettings()
    prepare(common, "ministry-hub")
    serve(create_app(build_runtime(settings, common)), settings.host, settings.port)


@hub_app.command("rebuild")
def hub_rebuild(
    federation_file: FederationOption = None,
    source: SourceOption = "streams",
    swap: SwapOption = True,
    keep_previous: KeepPreviousOption = False,
    hub_url: Annotated[
        str | None, typer.Option(help="The running hub that swaps it in (default: from settings).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes to rebuild in, the provinces dealt out over them "
            "(default: one a core, at most 4).",
        ),
    ] = None,
) -> None:
    """Rebuild the national read model beside the live one, then swap it in atomically."""
    from pls.rebuild_command import default_workers
    from services.ministry_hub.entrypoints.rebuild import rebuild_hub

    code = rebuild_hub(
        console,
        federation_file=federation_file,
        use_streams=_use_streams(source),
        swap=swap,
        keep_previous=keep_previous,
        hub_url=hub_url,
        workers=workers or default_workers(),
    )
    if code:
        raise typer.Exit(code)


directory_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    help="Run the national directory (what its container runs), or rebuild its read model.",
)
app.add_typer(directory_app, name="directory")


@directory_app.callback()
def directory(
    context: typer.Context,
    port: Annotated[int | None, typer.Option(help="Listening port (default 18010).")] = None,
    host: Annotated[str | None, typer.Option(help="Listening address.")] = None,
    consume: Annotated[
        bool, typer.Option(help="Consume the streams (off: serve a database as it stands).")
    ] = True,
) -> None:
    """Run the national directory of legal service agencies (what its container runs)."""
    if context.invoked_subcommand is not None:
        return
    from pls.serve import prepare, serve
    from pls.settings import CommonSettings
    from services.directory.bootstrap import build_runtime, create_app
    from services.directory.settings import DirectorySettings

    overrides: dict[str, object] = {}
    if port is not None:
        overrides["port"] = port
    if host is not None:
        overrides["host"] = host
    settings = DirectorySettings(**overrides)  # type: ignore[arg-type]
    common = CommonSettings()
    prepare(common, "directory")
    runtime = build_runtime(settings, common)
    serve(create_app(runtime, consume=consume), settings.host, settings.port)


@directory_app.command("rebuild")
def directory_rebuild(
    federation_file: FederationOption = None,
    source: SourceOption = "streams",
    swap: SwapOption = True,
    keep_previous: KeepPreviousOption = False,
    url: Annotated[
        str | None,
        typer.Option(help="The running directory that swaps it in (default: from settings)."),
    ] = None,
) -> None:
    """Rebuild the national directory beside the live one, then swap it in atomically."""
    from services.directory.entrypoints.rebuild import rebuild_directory

    code = rebuild_directory(
        console,
        federation_file=federation_file,
        use_streams=_use_streams(source),
        swap=swap,
        keep_previous=keep_previous,
        url=url,
    )
    if code:
        raise typer.Exit(code)


@app.command("simulate-directory")
def simulate_directory(
    scale: Annotated[
        str, typer.Option(help="national (over a million agencies), province, or small.")
    ] = "small",
    province: Annotated[
        str | None, typer.Option(help="With --scale province: which one (default 440000).")
    ] = None,
    organizations: Annotated[
        int | None,
        typer.Option(help="Instead of a scale: about this many agencies in national proportions."),
    ] = None,
    personnel: Annotated[
        str, typer.Option(help="none, professionals (lawyers, notaries, ...) or full.")
    ] = "professionals",
    federation_file: Annotated[
        Path | None,
        typer.Option(
            "--federation",
            help="Register through the province nodes of a running federation (the real path).",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="Or write straight into this directory database (SQLite path or PostgreSQL URL)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
) -> None:
    """Generate a directory of agencies and staff with real proportions over real counties."""
    import time

    from pls.simulator.directory import NATIONAL, DirectoryGenerator, Plan

    if personnel not in ("none", "professionals", "full"):
        raise typer.BadParameter("personnel: none, professionals or full")
    if (federation_file is None) == (database is None):
        raise typer.BadParameter("give exactly one of --federation or --database")
    try:
        if organizations is not None:
            whole = sum(n for n, _ in NATIONAL.values())
            plan = Plan(scale=organizations / whole, personnel=personnel, seed=seed)
        else:
            plan = Plan.named(scale, province=province, personnel=personnel, seed=seed)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if federation_file is not None:
        manifest = json.loads(federation_file.read_text())
        nodes = {code: entry["url"] for code, entry in manifest["provinces"].items()}
        missing = [p for p in plan.provinces if p not in nodes]
        if scale != "province" and missing:
            plan = Plan(scale=plan.scale, provinces=tuple(nodes), personnel=personnel, seed=seed)
        elif missing:
            raise typer.BadParameter(f"the federation has no node for {', '.join(missing)}")
    generator = DirectoryGenerator(plan)
    started = time.perf_counter()
    if federation_file is not None:
        from pls.simulator.directory_http import register_through_nodes

        count = asyncio.run(register_through_nodes(generator.events(), nodes))
    else:
        from pls.sqlstore import open_database
        from services.directory.adapters.readmodel import DirectoryReadModel
        from services.directory.application.loading import load
        from services.directory.application.projection import DirectoryProjection

        assert database is not None
        schema = "directory"
        db = open_database(database, schema=schema)
        projection = DirectoryProjection(DirectoryReadModel(db))
        count = load(
            projection,
            generator.events(),
            progress=lambda n: console.print(f"{n} events", end="\r") if n % 100_000 == 0 else None,
        )
        db.close()
    elapsed = time.perf_counter() - started
    console.print(
        f"{generator.registered} agencies and {generator.persons} people "
        f"({count} events) in {elapsed:.1f} s"
    )


complaints_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    help="Run complaints supervision (what its container runs), or rebuild its read model.",
)
app.add_typer(complaints_app, name="complaints")


@complaints_app.callback()
def complaints(
    context: typer.Context,
    port: Annotated[int | None, typer.Option(help="Listening port (default 18020).")] = None,
    host: Annotated[str | None, typer.Option(help="Listening address.")] = None,
) -> None:
    """Run the national complaints supervision service (what its container runs)."""
    if context.invoked_subcommand is not None:
        return
    from pls.serve import prepare, serve
    from pls.settings import CommonSettings
    from services.complaints.bootstrap import build_runtime, create_app
    from services.complaints.settings import ComplaintsSettings

    overrides: dict[str, object] = {}
    if port is not None:
        overrides["port"] = port
    if host is not None:
        overrides["host"] = host
    settings = ComplaintsSettings(**overrides)  # type: ignore[arg-type]
    common = CommonSettings()
    prepare(common, "complaints")
    serve(create_app(build_runtime(settings, common)), settings.host, settings.port)


@complaints_app.command("rebuild")
def complaints_rebuild(
    federation_file: FederationOption = None,
    source: SourceOption = "streams",
    swap: SwapOption = True,
    keep_previous: KeepPreviousOption = False,
    url: Annotated[
        str | None,
        typer.Option(help="The running complaints service that swaps it in (default: settings)."),
    ] = None,
) -> None:
    """Rebuild the supervision read model beside the live one (decisions kept), then swap it in."""
    from services.complaints.entrypoints.rebuild import rebuild_complaints

    code = rebuild_complaints(
        console,
        federation_file=federation_file,
        use_streams=_use_streams(source),
        swap=swap,
        keep_previous=keep_previous,
        url=url,
    )
    if code:
        raise typer.Exit(code)


@app.command()
def simulate(
    federation_file: Annotated[
        Path, typer.Option("--federation", help="federation.json of a running federation.")
    ] = Path("var/federation.json"),
    rate: Annotated[float, typer.Option(help="Cases per second.")] = 5.0,
    day_seconds: Annotated[float, typer.Option(help="Real seconds per simulated day.")] = 5.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default: until Ctrl-C).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    complaint_rate: Annotated[float, typer.Option(help="Complaints per 10k services.")] = 3.0,
) -> None:
    """Send simulated traffic to the province nodes of a running federation."""
    from pls.simulator.traffic import Simulator

    manifest = json.loads(federation_file.read_text())
    nodes = {code: entry["url"] for code, entry in manifest["provinces"].items()}
    tokens = {
        code: Path(entry["operator_token"]).read_text().strip()
        for code, entry in manifest["provinces"].items()
    }
    simulator = Simulator(
        nodes,
        rate=rate,
        day_seconds=day_seconds,
        seed=seed,
        tokens=tokens,
        complaints_per_10k=complaint_rate,
    )
    with contextlib.suppress(KeyboardInterrupt):
        stats = asyncio.run(simulator.run(duration))
        console.print(dict(stats))


@app.command()
def status(
    federation_file: Annotated[
        Path, typer.Option("--federation", help="federation.json of a running federation.")
    ] = Path("var/federation.json"),
    watch: Annotated[bool, typer.Option(help="Keep refreshing until Ctrl-C.")] = False,
    interval: Annotated[
        float, typer.Option(min=0.2, help="Seconds between the samples CPU is measured over.")
    ] = 2.0,
) -> None:
    """How a running federation is doing: the national view's state and the delay of the last
    minute's events, and each process's resident memory and CPU."""
    import time

    import httpx
    from rich.live import Live

    from pls.manifest import Manifest
    from pls.status import render, snapshot

    if not federation_file.exists():
        console.print(f"[red]{federation_file} not found:[/red] is `pls up` running?")
        raise typer.Exit(1)
    manifest = Manifest.read(federation_file)
    with httpx.Client(timeout=10.0) as client:
        before = snapshot(client, manifest)
        time.sleep(interval)
        now = snapshot(client, manifest)
        if not watch:
            console.print(render(now, before))
            return
        with (
            contextlib.suppress(KeyboardInterrupt),
            Live(render(now, before), console=console) as live,
        ):
            while True:
                time.sleep(interval)
                before, now = now, snapshot(client, manifest)
                live.update(render(now, before))


@app.command("nats-config")
def nats_config(
    registry: Annotated[Path, typer.Option(help="The federation registry (YAML).")] = Path(
        "var/trust/federation.yaml"
    ),
    out: Annotated[Path | None, typer.Option(help="Write here instead of printing.")] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            help="First create a local trust setup (registry, keys, secrets) in this directory."
        ),
    ] = None,
) -> None:
    """Generate nats-server's authorization (users by nkey and their permissions) from the registry."""
    from pls.trust.local import create_local_trust
    from pls.trust.natsconfig import authorization_block
    from pls.trust.registry import FederationRegistry

    if init is not None:
        trust = create_local_trust(init)
        registry = trust.registry_path
        console.print(
            f"Local trust in {init}: registry {registry}, credentials in {init / 'creds'}"
        )
    block = authorization_block(FederationRegistry.load(registry))
    if out is None:
        print(block)
    else:
        out.write_text(block)
        console.print(f"Wrote {out}; include it in nats-server.conf")


@app.command()
def token(
    role: Annotated[
        list[str],
        typer.Option(
            help="province_operator, ministry_staff, subscriber_admin, federation_service"
        ),
    ],
    subject: Annotated[str, typer.Option(help="Who the token is for (the `sub` claim).")],
    province: Annotated[
        str | None, typer.Option(help="For a province operator: the province code.")
    ] = None,
    hours: Annotated[float, typer.Option(help="Validity in hours.")] = 8.0,
    trust_dir: Annotated[Path, typer.Option(help="Local trust directory with issuer.pem.")] = Path(
        "var/trust"
    ),
) -> None:
    """Issue a bearer token from the local issuer key (a real deployment uses its identity provider)."""
    from datetime import timedelta

    from pls.trust.local import LocalTrust
    from pls.trust.tokens import Role

    try:
        roles = [Role(r) for r in role]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if Role.PROVINCE_OPERATOR in roles and province not in PROVINCES:
        raise typer.BadParameter("a province operator token names --province (a provincial code)")
    trust = LocalTrust(trust_dir)
    print(
        trust.token_issuer().issue(
            subject, [r.value for r in roles], province=province, ttl=timedelta(hours=hours)
        )
    )


def main() -> None:
    app(prog_name="pls")


if __name__ == "__main__":
    main()
