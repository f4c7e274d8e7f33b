"""`dagster dev` for `txn-assets dev`: started, and confirmed serving before its URL is shown.

When its webserver cannot bind its port (taken by another program, or by one of the many
loopback connections a stack opens), `dagster dev` logs the error and keeps running without a
UI: its daemon goes on, nothing answers. This module watches for that: on a port the user chose
it is one clear error; with port 0 another free port is tried.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil

from txn_assets.lib.services.ports import free_port
from txn_assets.lib.services.processes import Supervisor
from txn_assets.stack import PROJECT_ROOT, dagster_dev_command

# What uvicorn logs when the webserver's port is taken.
BIND_FAILED = "error while attempting to bind on address"
# Free ports tried when the caller lets us pick (port 0).
ATTEMPTS = 3


class PortInUseError(RuntimeError):
    """The webserver's port is taken."""


class DagsterDevExitedError(RuntimeError):
    """`dagster dev` stopped before its webserver served."""


def _listens(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether `dagster dev` or one of its children listens on the port (not someone else)."""
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(process.pid)
        for member in (parent, *parent.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                for conn in member.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                        return True
    return False


def _serving(process: subprocess.Popen[bytes], port: int) -> bool:
    """Its webserver holds the port and answers."""
    if not _listens(process, port):
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
            return True
    except OSError:
        return False


def _log_since(log: Path, offset: int) -> str:
    with log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def _wait_until_serving(
    port: int, process: subprocess.Popen[bytes], log: Path, offset: int, timeout_s: float
) -> str:
    """'serving', 'port in use', 'exited' or 'timeout'."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if BIND_FAILED in _log_since(log, offset):
            return "port in use"
        if _serving(process, port):
            return "serving"
        if process.poll() is not None:
            return "exited"
        time.sleep(0.5)
    return "timeout"


def start_dagster_dev(
    supervisor: Supervisor, port: int, log: Path, timeout_s: float = 300
) -> tuple[subprocess.Popen[bytes], int]:
    """`dagster dev` (webserver and daemon) on 127.0.0.1:port once it serves; port 0: any free.

    Returns the process (in its own group: stopping it stops the runs too) and the port.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    for _ in range(ATTEMPTS if port == 0 else 1):
        chosen = port or free_port()
        offset = log.stat().st_size
        process = supervisor.start(dagster_dev_command(chosen), cwd=PROJECT_ROOT, log=log)
        outcome = _wait_until_serving(chosen, process, log, offset, timeout_s)
        if outcome == "serving":
            return process, chosen
        supervisor.stop(process)
        if outcome == "exited":
            raise DagsterDevExitedError(f"dagster dev stopped while starting (its log: {log})")
        if outcome == "timeout":
            raise TimeoutError(
                f"the Dagster webserver did not answer within {timeout_s:.0f}s (its log: {log})"
            )
    if port:
        raise PortInUseError(
            f"port {port} on 127.0.0.1 is in use: choose another with --port (0: any free port)"
        )
    raise PortInUseError(f"{ATTEMPTS} free ports in a row were taken before the webserver bound")
