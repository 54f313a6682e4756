"""CPU time of the benchmarks' processes, read from Linux's /proc: what each process of a
deployment (server, its writer process, the database, the broker) spent per transaction."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (a scorer's decision writer)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of a process and of its children (the writer process)."""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in children(pid))


def listener_cpu_seconds(program: bytes, marker: bytes) -> float:
    """CPU seconds so far of the process whose command line holds `program` and `marker` (a
    throwaway PostgreSQL or Tansu, found by its port), with the processes it has reaped and its
    live children; 0 if there is none."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if program in command and marker in command:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            own = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # + reaped
            return own + sum(cpu_seconds(child) for child in children(int(proc.name)))
    return 0.0


def database_cpu_seconds(database: str | None) -> float:
    """CPU seconds of the PostgreSQL server so far (the postmaster, its live processes and those
    that ended), 0 for the embedded store; found by the port in its command line."""
    if database is None:
        return 0.0
    port = database.rsplit(":", 1)[1].split("/", 1)[0]
    return listener_cpu_seconds(b"postgres", f"port={port}".encode())
