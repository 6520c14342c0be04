"""Which process owns a replica, and whether that process still lives (ADR 0012).

A process is named by its pid and its start time: the clock ticks after boot at which it
began (/proc/<pid>/stat field 22). A pid is reused once its process is gone; the pair is not,
within one boot. The boot is named by the kernel's random boot id, so after a reboot every
recorded process is known dead even if a new one got the same pid at the same tick.

Linux only (/proc): elsewhere `this_owner()` is None, rows record no owner and nothing is
reaped.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_BOOT_ID = _PROC / "sys" / "kernel" / "random" / "boot_id"


@dataclass(frozen=True)
class ProcessId:
    pid: int
    started: int  # clock ticks after boot (/proc/<pid>/stat field 22)


@dataclass(frozen=True)
class Owner:
    host: str
    boot: str
    process: ProcessId


def start_ticks(pid: int) -> int | None:
    """The start time of a running process `pid`; None if there is none (or a zombie: it
    has exited and only waits for its parent to collect its status)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # Field 2 (the command name) is in parentheses and may hold spaces or ')': split after
    # the last ')'. What follows starts at field 3 (the state).
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def identify(pid: int) -> ProcessId | None:
    started = start_ticks(pid)
    return None if started is None else ProcessId(pid, started)


def alive(process: ProcessId) -> bool:
    """The very process recorded: the pid runs and began at the recorded tick."""
    started = start_ticks(process.pid)
    return started is not None and started == process.started


def boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def this_owner() -> Owner | None:
    """This process, as recorded on the replicas it starts; None where /proc cannot tell."""
    boot = boot_id()
    process = identify(os.getpid())
    if boot is None or process is None:
        return None
    return Owner(socket.gethostname(), boot, process)


def stop_processes(processes: list[ProcessId], grace_s: float) -> list[ProcessId]:
    """SIGTERM each recorded process still alive, wait up to `grace_s` for all of them to
    exit, then SIGKILL those left. Each is checked to be the recorded process right before
    each signal, so a pid reused meanwhile is never signalled. The processes signalled."""
    signalled = [p for p in processes if alive(p) and _signal(p, signal.SIGTERM)]
    deadline = time.monotonic() + grace_s
    while any(alive(p) for p in signalled) and time.monotonic() < deadline:
        time.sleep(0.05)  # not our children: no wait() to block on, so poll /proc
    for process in signalled:
        if alive(process):
            _signal(process, signal.SIGKILL)
    return signalled


def _signal(process: ProcessId, number: signal.Signals) -> bool:
    try:
        os.kill(process.pid, number)
    except (ProcessLookupError, PermissionError):
        return False
    return True
