"""Starting and stopping the processes the project runs, so that none outlives its parent.

Every service is started in a process group of its own (so it can be stopped as a whole), with
default signal handling, and with a parent-death signal: Linux sends it SIGTERM when the process
that started it dies, however it dies. What a parent-death signal cannot reach (grandchildren,
a PostgreSQL that daemonised) the reaper stops (`reaper.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: the child only calls into it.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def default_signals() -> None:
    """In a child before exec: Ctrl-C and SIGTERM do what they normally do.

    A process started from a non-interactive shell in the background inherits SIGINT ignored;
    `dagster dev` maps SIGTERM to SIGINT's handler, so it would then ignore SIGTERM too.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _child_setup() -> None:
    default_signals()
    if _LIBC is not None:  # SIGTERM when the parent dies, even by SIGKILL
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_child(
    command: Sequence[str],
    *,
    stdout: IO[bytes] | int | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    on_start: Callable[[int], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a service in its own process group, to die with this process.

    `on_start(pgid)` registers the group (with the reaper) as soon as it exists.
    """
    process = subprocess.Popen(
        list(command),
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_child_setup,
    )
    if on_start is not None:
        on_start(process.pid)
    return process


def terminate(process: subprocess.Popen[Any], timeout_s: float = 30) -> None:
    """Stop a service process politely, then firmly; waits so that nothing is left behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def stop_process_group(process: subprocess.Popen[Any], timeout_s: float = 15) -> None:
    """Stop a process started in its own group and everything it spawned."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout_s)
    # Children of the leader may outlive it: the group goes entirely.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(10)


class Supervisor:
    """Starts services in groups of their own and stops them, keeping the reaper informed.

    Without a reaper (tests, benchmarks) only the parent-death signal guards against orphans.
    """

    def __init__(self, reaper: Any = None) -> None:
        self.reaper = reaper

    def start(
        self,
        command: Sequence[str],
        *,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a service; it is stopped with `stop`, or by the reaper if this process dies."""
        stdout = log.open("ab") if log is not None else subprocess.DEVNULL
        on_start = self.reaper.watch_group if self.reaper is not None else None
        return start_child(command, stdout=stdout, env=env, cwd=cwd, on_start=on_start)

    def stop(self, process: subprocess.Popen[Any], timeout_s: float = 15) -> None:
        """Stop a service and all it spawned; the reaper forgets it."""
        stop_process_group(process, timeout_s)
        if self.reaper is not None:
            self.reaper.release_group(process.pid)


UNSUPERVISED = Supervisor()
