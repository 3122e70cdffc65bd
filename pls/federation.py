"""`pls up`: a whole federation on one machine, each service in its own process.

It creates the federation's trust (registry, keys, tokens under `var/trust/`), starts nats-server
with the registry's authorization, creates every started origin's stream (the provinces' and the
ministry's), starts the hub, the complaints supervision service and the province nodes as `pls`
subprocesses (what containers would run), waits until each is ready, writes `var/federation.json`
and stops everything on Ctrl-C. A province's relay can run as a process of its own
(`separate_relays`), as it would beside the node in a deployment. `supervise` restarts whatever
exits (what `pls up` does, so a process killed on purpose comes back). Tests and the fault
injection suite use `spawn_*`, `kill`, `pause` and `resume` to break it on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from contracts.subjects import MINISTRY, PROVINCES
from pls import bus, ports
from pls.natsserver import NatsServer, die_with_parent
from pls.trust.local import (
    COMPLAINTS,
    DIRECTORY,
    HUB,
    OPERATOR,
    LocalTrust,
    create_local_trust,
    province_member,
)


def default_node_processes(provinces: int) -> int:
    """What `pls up` runs its province nodes in: a process a core (at least two), never more
    than one a province. Each node keeps its own port, database, keys and NATS connection;
    sharing an interpreter spares the memory and the idle CPU of one per province."""
    return min(provinces, max(2, os.cpu_count() or 2))


@dataclass
class Child:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Federation:
    var_dir: Path
    provinces: list[str]
    nats_port: int = ports.NATS
    nats_monitor_port: int = ports.NATS_MONITOR
    hub_port: int = ports.HUB
    complaints_port: int = ports.COMPLAINTS
    directory_port: int = ports.DIRECTORY
    node_ports: dict[str, int] = field(default_factory=dict)
    day_seconds: float | None = None  # a simulated day, when complaint deadlines run compressed
    relay_ports: dict[str, int] = field(default_factory=dict)
    separate_relays: list[str] = field(default_factory=list)
    checkpoint_interval: float = 10.0
    silent_after: float = 120.0
    reconcile_interval: float = 5.0
    environment: dict[str, str] = field(default_factory=dict)
    # How many processes the province nodes run in: None, one process a province (as each
    # runs in its own container); fewer, several nodes share a process (`pls node --province
    # a,b`), which on one small machine spares memory and the CPU of many idle interpreters.
    node_processes: int | None = None
    nats: NatsServer | None = None
    children: list[Child] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _restarting: threading.Lock = field(default_factory=threading.Lock)

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def node_port(self, province: str) -> int:
        return self.node_ports.get(province) or ports.node_port(province)

    def node_url(self, province: str) -> str:
        return f"http://127.0.0.1:{self.node_port(province)}"

    def relay_port(self, province: str) -> int:
        return self.relay_ports.get(province) or ports.relay_port(province)

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def directory_url(self) -> str:
        return f"http://127.0.0.1:{self.directory_port}"

    @property
    def complaints_url(self) -> str:
        return f"http://127.0.0.1:{self.complaints_port}"

    @property
    def trust(self) -> LocalTrust:
        return LocalTrust(self.var_dir / "trust")

    def tokens(self) -> dict[str, Path]:
        """Bearer tokens for local use, written under var/trust/tokens/ (valid for a day)."""
        directory = self.var_dir / "trust" / "tokens"
        directory.mkdir(parents=True, exist_ok=True)
        tokens = {
            "staff": self.trust.staff_token(),
            HUB: self.trust.service_token(HUB),
            COMPLAINTS: self.trust.service_token(COMPLAINTS),
            DIRECTORY: self.trust.service_token(DIRECTORY),
            "federation-operator": self.trust.federation_operator_token(),
        }
        tokens |= {f"operator-{p}": self.trust.operator_token(p) for p in self.provinces}
        paths = {}
        for name, token in tokens.items():
            path = directory / f"{name}.jwt"
            path.write_text(token + "\n")
            path.chmod(0o600)
            paths[name] = path
        return paths

    def token(self, name: str) -> str:
        return (self.var_dir / "trust" / "tokens" / f"{name}.jwt").read_text().strip()

    def start(self, timeout: float = 120.0) -> None:
        """Start everything and wait (at most `timeout` seconds) until every service is ready."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        (self.var_dir / "logs").mkdir(exist_ok=True)
        create_local_trust(self.var_dir / "trust")
        self.tokens()
        self.nats = NatsServer(
            self.var_dir / "nats",
            self.nats_port,
            self.nats_monitor_port,
            extra_config=self.trust.nats_config_path.read_text(),
        ).start()
        asyncio.run(self._create_streams())
        self.spawn_nodes()
        for province in self.separate_relays:
            self.spawn_relay(province)
        self.spawn_hub()
        self.spawn_directory()
        self.spawn_complaints()
        self.wait_ready(timeout)
        self.write_manifest()

    async def _create_streams(self) -> None:
        client = await bus.connect(
            self.nats_url, name="pls-up", creds=self.trust.creds(OPERATOR), member_id=OPERATOR
        )
        try:
            js = client.jetstream()
            for origin in [*self.provinces, MINISTRY]:
                await bus.ensure_stream(js, origin)
        finally:
            await client.close()

    def node_groups(self) -> dict[str, list[str]]:
        """Each node process's name and the provinces it serves."""
        if self.node_processes is None or self.node_processes >= len(self.provinces):
            return {f"node-{province}": [province] for province in self.provinces}
        count = max(1, self.node_processes)
        return {f"nodes-{i + 1}": self.provinces[i::count] for i in range(count)}

    def spawn_nodes(self) -> None:
        for name in self.node_groups():
            self.spawn_node_process(name)

    def node_process(self, province: str) -> str:
        """The name of the process serving `province`'s node."""
        return next(name for name, group in self.node_groups().items() if province in group)

    def spawn_node(self, province: str) -> Child:
        """(Re)start one province node, e.g. after it was killed (with the other nodes of its
        process, when it shares one)."""
        return self.spawn_node_process(self.node_process(province))

    def spawn_node_process(self, name: str) -> Child:
        group = self.node_groups()[name]
        self.children = [c for c in self.children if c.name != name]
        extra = {"PLS_NODE_CHECKPOINT_INTERVAL": str(self.checkpoint_interval)}
        for province in group:
            own = self._province_identity(province) | {
                "PLS_NODE_PORT": str(self.node_port(province))
            }
            if province in self.separate_relays:
                own["PLS_NODE_RELAY_ENABLED"] = "false"
            if len(group) > 1:  # each node of a shared process reads its own: `for_province`
                own = {f"PLS_{province}_{key.removeprefix('PLS_')}": v for key, v in own.items()}
            extra |= own
        self._spawn(
            name, self.node_url(group[0]), ["node", "--province", ",".join(group)], self._env(extra)
        )
        return self.children[-1]

    def _province_identity(self, province: str) -> dict[str, str]:
        """What a province's processes need to act as that province: its keys and secrets."""
        member = province_member(province)
        return {
            "PLS_MEMBER_ID": member,
            "PLS_NATS_CREDS": str(self.trust.creds(member)),
            "PLS_NODE_SIGNING_SEED": str(self.trust.signing_seed(member)),
            "PLS_NODE_PSEUDONYM_SECRET_FILE": str(self.trust.pseudonym_secret(province)),
            "PLS_NODE_CIPHER_KEY_FILE": str(self.trust.cipher_key(province)),
        }

    def spawn_relay(self, province: str) -> Child:
        """(Re)start a province's relay as a process of its own."""
        self.children = [c for c in self.children if c.name != f"relay-{province}"]
        port = self.relay_port(province)
        self._spawn(
            f"relay-{province}",
            f"http://127.0.0.1:{port}",
            ["relay", "--province", province, "--port", str(port)],
            self._env(self._province_identity(province)),
        )
        return self.children[-1]

    def spawn_hub(self) -> Child:
        """(Re)start the hub, e.g. after it was killed."""
        self.children = [c for c in self.children if c.name != "hub"]
        self._spawn("hub", self.hub_url, ["hub", "--port", str(self.hub_port)], self._hub_env())
        return self.children[-1]

    def spawn_complaints(self) -> Child:
        """(Re)start the complaints supervision service, e.g. after it was killed."""
        self.children = [c for c in self.children if c.name != "complaints"]
        self._spawn(
            "complaints",
            self.complaints_url,
            ["complaints", "--port", str(self.complaints_port)],
            self._complaints_env(),
        )
        return self.children[-1]

    def spawn_directory(self) -> Child:
        """(Re)start the directory, e.g. after it was killed."""
        self.children = [c for c in self.children if c.name != "directory"]
        self._spawn(
            "directory",
            self.directory_url,
            ["directory", "--port", str(self.directory_port)],
            self._env(
                {
                    "PLS_DIRECTORY_PROVINCES": ",".join(self.provinces),
                    "PLS_DIRECTORY_NODE_URLS": json.dumps(
                        {p: self.node_url(p) for p in self.provinces}
                    ),
                    "PLS_DIRECTORY_MINISTRY_JOURNAL_URL": self.complaints_url,
                    "PLS_MEMBER_ID": DIRECTORY,
                    "PLS_NATS_CREDS": str(self.trust.creds(DIRECTORY)),
                    "PLS_DIRECTORY_NODE_TOKEN_FILE": str(
                        self.var_dir / "trust" / "tokens" / f"{DIRECTORY}.jwt"
                    ),
                }
            ),
        )
        return self.children[-1]

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def respawn(self, name: str) -> Child:
        """Start a child of that name again (after it was killed)."""
        if name == "hub":
            return self.spawn_hub()
        if name == "complaints":
            return self.spawn_complaints()
        if name == "directory":
            return self.spawn_directory()
        kind, _, province = name.partition("-")
        return self.spawn_relay(province) if kind == "relay" else self.spawn_node_process(name)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown of any kind."""
        child = self.child(name)
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGKILL)
        child.process.wait()

    def pause(self, name: str) -> None:
        """SIGSTOP: the process holds its connections but does nothing."""
        self.child(name).process.send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.child(name).process.send_signal(signal.SIGCONT)

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        return {
            **os.environ,
            "PLS_VAR_DIR": str(self.var_dir),
            "PLS_NATS_URL": self.nats_url,
            "PLS_TRUST_REGISTRY": str(self.trust.registry_path),
            **self.environment,
            **extra,
        }

    def _hub_env(self) -> dict[str, str]:
        return self._env(
            {
                "PLS_HUB_PROVINCES": ",".join(self.provinces),
                "PLS_HUB_SILENT_AFTER": str(self.silent_after),
                "PLS_HUB_RECONCILE_INTERVAL": str(self.reconcile_interval),
                "PLS_HUB_NODE_URLS": json.dumps({p: self.node_url(p) for p in self.provinces}),
                "PLS_MEMBER_ID": HUB,
                "PLS_NATS_CREDS": str(self.trust.creds(HUB)),
                "PLS_HUB_NODE_TOKEN_FILE": str(self.var_dir / "trust" / "tokens" / f"{HUB}.jwt"),
            }
        )

    def _complaints_env(self) -> dict[str, str]:
        extra = {
            "PLS_COMPLAINTS_PROVINCES": ",".join(self.provinces),
            "PLS_COMPLAINTS_NODE_URLS": json.dumps({p: self.node_url(p) for p in self.provinces}),
            "PLS_COMPLAINTS_CHECKPOINT_INTERVAL": str(self.checkpoint_interval),
        }
        if self.day_seconds:
            # Supervised time runs as fast as the simulator's days, so working-day deadlines pass
            # within minutes; the epoch is kept in the service's database across restarts.
            extra["PLS_COMPLAINTS_TIME_SCALE"] = str(86_400 / self.day_seconds)
            extra["PLS_COMPLAINTS_CHECK_INTERVAL"] = str(max(0.5, min(5.0, self.day_seconds / 5)))
        extra |= {
            "PLS_MEMBER_ID": COMPLAINTS,
            "PLS_NATS_CREDS": str(self.trust.creds(COMPLAINTS)),
            "PLS_COMPLAINTS_SIGNING_SEED": str(self.trust.signing_seed(COMPLAINTS)),
            "PLS_COMPLAINTS_NODE_TOKEN_FILE": str(
                self.var_dir / "trust" / "tokens" / f"{COMPLAINTS}.jwt"
            ),
        }
        return self._env(extra)

    def _spawn(self, name: str, url: str, args: list[str], env: dict[str, str]) -> None:
        log = self.var_dir / "logs" / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "pls.cli", *args],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        self.children.append(Child(name, url, process, log))

    def wait_ready(self, timeout: float = 120.0, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {c.name: c for c in self.children if names is None or c.name in names}
        while pending and time.monotonic() < deadline:
            for name, child in list(pending.items()):
                if child.process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {child.process.returncode}; see {child.log}"
                    )
                try:
                    if httpx.get(f"{child.url}/healthz", timeout=1).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not ready after {timeout} s: {', '.join(pending)}")

    def manifest(self) -> dict[str, Any]:
        assert self.nats is not None
        return {
            "started_at": datetime.now(UTC).isoformat(),
            # The process that started the federation and supervises it (`pls up`, with its
            # traffic simulator), so that `pls status` can show what it costs too.
            "launcher": {
                "pid": os.getpid(),
                "command": " ".join(Path(a).name for a in sys.argv[:2]),
            },
            "var_dir": str(self.var_dir.resolve()),
            "nats": {
                "url": self.nats_url,
                "monitor": self.nats.monitor_url,
                "store": str((self.var_dir / "nats" / "jetstream").resolve()),
                "credentials": str(self.trust.creds(OPERATOR).resolve()),
            },
            "trust": {
                "registry": str(self.trust.registry_path.resolve()),
                "nats_credentials": str((self.var_dir / "trust" / "creds").resolve()),
                "tokens": str((self.var_dir / "trust" / "tokens").resolve()),
                "issuer_key": str(self.trust.issuer_key.resolve()),
            },
            "hub": {
                "url": self.hub_url,
                "docs": f"{self.hub_url}/docs",
                "dashboard": f"{self.hub_url}/#token={self.token('staff')}",
            },
            "directory": {"url": self.directory_url, "docs": f"{self.directory_url}/docs"},
            "complaints": {
                "url": self.complaints_url,
                "docs": f"{self.complaints_url}/docs",
                "stream": "PLS_MOJ",
                "subjects": "pls.moj.>",
                "time_scale": 86_400 / self.day_seconds if self.day_seconds else 1.0,
            },
            "provinces": {
                p: {
                    "name": PROVINCES[p],
                    "url": self.node_url(p),
                    "docs": f"{self.node_url(p)}/docs",
                    "stream": f"PLS_{p}",
                    "subjects": f"pls.{p}.>",
                    "operator_token": str(self.var_dir / "trust" / "tokens" / f"operator-{p}.jwt"),
                    "process": self.node_process(p),
                    "relay": f"http://127.0.0.1:{self.relay_port(p)}"
                    if p in self.separate_relays
                    else None,
                }
                for p in self.provinces
            },
            "logs": str((self.var_dir / "logs").resolve()),
        }

    def write_manifest(self) -> Path:
        path = self.var_dir / "federation.json"
        path.write_text(json.dumps(self.manifest(), indent=2, ensure_ascii=False) + "\n")
        return path

    def supervise(
        self, report: Callable[[str], None] = print, interval: float = 1.0, delay: float = 2.0
    ) -> None:
        """Until `stop`: restart nats-server or any service whose process has exited."""
        exited: dict[str, float] = {}
        while not self._stopping.wait(interval):
            with self._restarting:
                if not self._stopping.is_set():
                    self._restart_exited(exited, report, delay)

    def _restart_exited(
        self, exited: dict[str, float], report: Callable[[str], None], delay: float
    ) -> None:
        now = time.monotonic()
        if self.nats is not None and self.nats.process and self.nats.process.poll() is not None:
            exited.setdefault("nats-server", now)
            if now - exited["nats-server"] >= delay:
                del exited["nats-server"]
                try:
                    self.nats.start()
                    report("nats-server exited; restarted it (its store is kept)")
                except Exception as error:
                    report(f"nats-server exited and could not be restarted: {error}")
        for child in list(self.children):
            if child.process.poll() is None or self._stopping.is_set():
                continue
            exited.setdefault(child.name, now)
            if now - exited[child.name] < delay:
                continue
            del exited[child.name]
            code = child.process.returncode
            self.respawn(child.name)
            report(f"{child.name} exited ({code}); restarted it")

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        with self._restarting:
            pass  # a restart under way finishes first, so that it is stopped below too
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGCONT)  # a paused child cannot stop
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        if self.nats is not None:
            self.nats.stop()
