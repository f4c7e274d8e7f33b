"""A throwaway PostgreSQL server in a data folder, using the binaries the pgserver wheel ships.

pgserver's own lifecycle (atexit hooks, per-process handle lists, socket-only listening) does not
suit Dagster's many processes, so only its binaries and its root helper are used: the server
listens on 127.0.0.1 on a free port, and when we are root it runs as the unprivileged user
`pgserver`, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from txn_assets.lib.services.ports import free_port

_SERVICE_USER = "pgserver"
SUPERUSER = "postgres"


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # pgserver's package import asks platformdirs for a runtime dir we never use.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists(_SERVICE_USER)
    return _SERVICE_USER


def give_to_server(path: Path) -> None:
    """A file the server must own (e.g. its TLS key): handed to the user it runs as, if not us."""
    user = _run_as()
    if user:
        shutil.chown(path, user=user)


def _make_reachable(path: Path, user: str) -> None:
    """The service user must own the data folder and traverse every folder above it."""
    shutil.chown(path, user=user)
    from pgserver.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where its data lives and how to reach it."""

    data_dir: Path
    port: int

    def url(self, database: str = SUPERUSER) -> str:
        """libpq URL; trust authentication on loopback (a throwaway, local-only server)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def _pg(
    args: list[str], user: str | None, timeout: float = 60, bin_dir: Path | None = None
) -> None:
    subprocess.run(
        [str((bin_dir or _bin_dir()) / args[0]), *args[1:]],
        check=True,
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )


def _is_server_of(pid: int, data_dir: Path) -> bool:
    """Whether pid is a live postgres serving data_dir (a pid in a stale file may be reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"postgres") and str(data_dir).encode() in cmdline


def _running_port(data_dir: Path) -> int | None:
    """The port of a server already running on data_dir (from postmaster.pid), else None."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        pid = int(lines[0])
    except (ValueError, IndexError):
        return None
    if not _is_server_of(pid, data_dir):
        return None
    return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None


def running_server(data_dir: Path) -> PostgresServer | None:
    """The server running on data_dir, if one is."""
    port = _running_port(data_dir.resolve())
    return None if port is None else PostgresServer(data_dir.resolve(), port)


def start_postgres(data_dir: Path, bin_dir: Path | None = None) -> PostgresServer:
    """Start (initialising on first use) or reuse the server of data_dir; returns when ready.

    `bin_dir`: another installation's binaries (e.g. a distribution's, built with TLS, which
    the wheel's are not); default the pgserver wheel's.
    """
    data_dir = data_dir.resolve()
    user = _run_as()
    port = _running_port(data_dir)
    if port is not None:
        return PostgresServer(data_dir, port)
    # A server killed without warning leaves its pid file; its pid may belong to another
    # process by now, which would make PostgreSQL refuse to start. No server of ours runs.
    (data_dir / "postmaster.pid").unlink(missing_ok=True)
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _make_reachable(data_dir, user)
        _pg(
            [
                "initdb",
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user,
            bin_dir=bin_dir,
        )
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {data_dir} -c fsync=on -c max_connections=200"
    try:
        _pg(
            [
                "pg_ctl",
                "-D",
                str(data_dir),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "-l",
                str(data_dir / "server.log"),
                "start",
            ],
            user,
            timeout=90,
            bin_dir=bin_dir,
        )
    except subprocess.CalledProcessError as err:
        log = (data_dir / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start in {data_dir}:\n{log}") from err
    return PostgresServer(data_dir, port)


def pg_ctl(data_dir: Path, *args: str, timeout: float = 90, bin_dir: Path | None = None) -> None:
    """Run pg_ctl on data_dir as the server's user (e.g. `restart -m immediate`)."""
    command = ["pg_ctl", "-D", str(data_dir.resolve()), "-w", *args]
    _pg(command, _run_as(), timeout=timeout, bin_dir=bin_dir)


def stop_postgres(data_dir: Path, bin_dir: Path | None = None) -> None:
    """Stop the server of data_dir if one runs (fast shutdown: in-flight transactions roll back)."""
    data_dir = data_dir.resolve()
    if _running_port(data_dir) is None:
        return
    command = ["pg_ctl", "-D", str(data_dir), "-w", "-m", "fast", "stop"]
    _pg(command, _run_as(), timeout=60, bin_dir=bin_dir)
    deadline = time.monotonic() + 10
    while _running_port(data_dir) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` if missing (CREATE DATABASE cannot run inside a transaction)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
