"""What every benchmark shares: a private nats-server with the federation's authorization, timing,
percentiles, and one result line per figure, printed beside its same-run baseline."""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pls.natsserver import NatsServer
from pls.trust.local import LocalTrust, create_local_trust


def free_port() -> int:
    """A free port below the ephemeral range, so outgoing connections cannot take it first."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(20_000, min(low, 32_000))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Bed:
    """A temporary directory with trust material and a nats-server that uses it."""

    directory: Path
    trust: LocalTrust
    nats: NatsServer


@contextmanager
def bed(keep: Path | None = None) -> Iterator[Bed]:
    directory = keep or Path(tempfile.mkdtemp(prefix="pls-bench-"))
    trust = create_local_trust(directory / "trust")
    nats = NatsServer(
        directory / "nats",
        free_port(),
        free_port(),
        extra_config=trust.nats_config_path.read_text(),
    ).start()
    try:
        yield Bed(directory, trust, nats)
    finally:
        nats.stop()


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of samples given in seconds, in milliseconds."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] * 1000

    return {
        "n": len(ordered),
        "p50": at(0.5),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


@dataclass
class Figure:
    """One measured figure, its same-run baseline and the target for the ratio."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        text = f"{self.name}: {self.value:,.1f} {self.unit}"
        if self.baseline is not None:
            text += f" | baseline ({self.baseline_name}): {self.baseline:,.1f} {self.unit}"
            text += f" | ratio {self.ratio:.2f}"
        if self.target:
            text += f" | target {self.target}"
        for key, value in self.extra.items():
            text += f" | {key} {value:,.1f}" if isinstance(value, float) else f" | {key} {value}"
        return text


def report(figures: list[Figure], json_path: Path | None) -> None:
    for figure in figures:
        print(figure.line(), flush=True)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
                },
                indent=2,
                ensure_ascii=False,
            )
        )


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory of a process (VmHWM), in MB."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
