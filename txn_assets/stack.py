"""The embedded local stack: PostgreSQL, folders and environment for `txn-assets run|dev`.

Everything lives under one home folder, so running again on the same home resumes the stream,
and a later `dagster dev` on it shows the history.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import psycopg

from txn_assets.lib import settings
from txn_assets.lib.generate import generate
from txn_assets.lib.home_lock import home_lock
from txn_assets.lib.services.postgres import ensure_database, start_postgres, stop_postgres
from txn_assets.lib.services.processes import Supervisor
from txn_assets.lib.services.reaper import Reaper
from txn_assets.lib.state.migrate import migrate

if TYPE_CHECKING:
    from dagster import DagsterInstance

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home_from_env() -> Path:
    """The home `txn-assets run|dev` exported (TXN_HOME), else `.state` (the commands' default)."""
    return Path(os.environ.get("TXN_HOME", ".state"))


def scratch_folder(home: Path) -> Path:
    """The home's scratch folder (Mechanism Y's local copies, the Spark warm-up's files), cleared
    when a command starts on the home."""
    return home / "scratch"


@dataclass(frozen=True)
class StackSettings:
    """What the local stack needs to know."""

    home: Path
    transactions: Path | None = None  # None: generated BankSim-shaped data under HOME/source
    importance: Path | None = None
    chunk_rows: int = settings.CHUNK_ROWS
    store: str = "local"  # local | azure | azurite
    # local | drive (TXN_DRIVE_* and GOOGLE_SERVICE_ACCOUNT_JSON settings) | none: a command that
    # only reads the state (report) neither needs the source files nor generates them.
    source: str = "local"


def database_url_for(url: str, name: str, scheme: str = "postgresql") -> str:
    """The same server, credentials and options (e.g. sslmode), another database.

    `scheme` lets the same URL serve SQLAlchemy (Dagster's storage: postgresql+psycopg2).
    """
    info = psycopg.conninfo.conninfo_to_dict(url)
    user = quote(str(info.pop("user", "postgres")), safe="")
    password = info.pop("password", None)
    auth = user + (":" + quote(str(password), safe="") if password else "")
    host, port = info.pop("host", "127.0.0.1"), info.pop("port", 5432)
    info.pop("dbname", None)
    options = urlencode({key: str(value) for key, value in info.items()})
    return f"{scheme}://{auth}@{host}:{port}/{name}" + (f"?{options}" if options else "")


def home_database_url(home: Path, name: str = "txn") -> str:
    """The URL of database `name` on the embedded server of a home (while it runs)."""
    from txn_assets.lib.services.postgres import running_server

    server = running_server(home.resolve() / "postgres")
    if server is None:
        raise RuntimeError(f"no PostgreSQL is running for {home}")
    return server.url(name)


def _source_paths(settings: StackSettings) -> tuple[Path, Path]:
    """The transactions and CustomerImportance files: both given, else generated in HOME/source."""
    if settings.transactions and settings.importance:
        return settings.transactions, settings.importance
    folder = settings.home / "source"
    return folder / "transactions.csv", folder / "CustomerImportance.csv"


def _source_files(settings: StackSettings) -> tuple[Path, Path]:
    tx, imp = _source_paths(settings)
    given = settings.transactions and settings.importance
    if not given and not (tx.exists() and imp.exists()):
        print(f"generating the full-size BankSim-shaped data set in {tx.parent} ...", flush=True)
        generate(tx.parent)
    return tx.resolve(), imp.resolve()


def dagster_dev_command(port: int) -> list[str]:
    """`dagster dev` on loopback for this project's workspace (webserver and daemon)."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


# Modules whose import reads no setting: the definitions (`txn_assets.definitions`,
# `txn_assets.defs.*`) choose their resources and kinds from the environment as they are
# imported, so they may only be imported once `local_stack` has exported it.
ENVIRONMENT_FREE_IMPORTS = (
    "dagster",
    "dagster_pyspark",
    "txn_assets.resources.sources",
    "txn_assets.resources.stores",
    "txn_assets.resources.postgres",
    "txn_assets.runner",
)


def import_in_background(*modules: str) -> threading.Thread:
    """Import modules on a daemon thread: Dagster's (~4 s of CPU) load while PostgreSQL starts.

    A later `import` of the same module in the main thread waits for this one, never repeats it.
    Only modules that read no setting are allowed: the environment is not exported yet.
    """
    reads_settings = [
        m
        for m in modules
        if m.split(".")[:2] in (["txn_assets", "defs"], ["txn_assets", "definitions"])
    ]
    if reads_settings:
        raise ValueError(f"{reads_settings} read the environment as they are imported")
    thread = threading.Thread(
        target=lambda: [importlib.import_module(m) for m in modules], name="imports", daemon=True
    )
    thread.start()
    return thread


# The instance of the runs `txn-assets run` executes in its own process: dagster.yaml's, without
# capturing each run's stdout and stderr. That process's output is the command's console (and
# its other threads': X's supervision, the parse ahead, Spark's gateway), and Dagster captures it
# by starting `tail` and a Python watcher per stream for every run: ~75 ms of a Y run of ~0.4 s,
# and CPU the parse ahead needs. Their event logs (log lines, materialisations, checks) are kept.
IN_PROCESS_CONFIG = "in-process.yaml"
_NO_CAPTURE = """
# Written by `txn-assets run` (txn_assets/stack.py): dagster.yaml for the runs it executes in
# its own process, whose stdout and stderr are the command's console and are not captured per run.
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
"""


def _dagster_home(home: Path) -> Path:
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = (PROJECT_ROOT / "dagster.yaml").read_text()
    (dagster_home / "dagster.yaml").write_text(config)
    (dagster_home / IN_PROCESS_CONFIG).write_text(config + _NO_CAPTURE)
    return dagster_home.resolve()


def in_process_instance() -> DagsterInstance:
    """The home's Dagster instance for runs executed in this process (IN_PROCESS_CONFIG); the
    caller disposes of it (`with`). Needs the stack's DAGSTER_HOME."""
    import dagster as dg

    return dg.DagsterInstance.from_config(os.environ["DAGSTER_HOME"], IN_PROCESS_CONFIG)


@dataclass
class LocalStack:
    """A running home: its settings (also exported to the environment) and its supervisor."""

    home: Path
    env: dict[str, str]
    supervisor: Supervisor


def _recover(home: Path) -> None:
    """Clear what a process killed without warning can leave behind (the lock is held)."""
    for leftover in (home / "blob").rglob(".tmp-*"):  # a store write cut short
        leftover.unlink(missing_ok=True)
    shutil.rmtree(scratch_folder(home), ignore_errors=True)


def fail_orphaned_runs(reason: str) -> list[str]:
    """Runs recorded as in progress by a process of this home that died: marked failed.

    Only safe while the home's lock is held: then no process of this home is running them.
    """
    import dagster as dg

    instance = dg.DagsterInstance.get()
    in_progress = [
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=in_progress)):
        instance.report_run_failed(record.dagster_run, message=reason)
        failed.append(record.dagster_run.run_id)
    return failed


@contextmanager
def local_stack(
    settings: StackSettings, command: str = "run", once_locked: Callable[[], None] | None = None
) -> Iterator[LocalStack]:
    """Start what the home needs, export the settings to the environment, stop it afterwards.

    The home is locked for the duration; a reaper stops every service if this process dies.
    `once_locked` runs as soon as the home is ours, before the services start (to overlap them).
    """
    home = settings.home.resolve()
    with home_lock(home, command) as lock_fd, ExitStack() as stack:
        _recover(home)  # first: what once_locked starts may already write to the scratch folder
        if once_locked is not None:
            once_locked()
        reaper = Reaper(home, keep_fds=(lock_fd,))
        stack.callback(reaper.close)  # last: everything else was stopped and released
        supervisor = Supervisor(reaper)
        admin_url = os.environ.get("DATABASE_URL")
        if not admin_url:
            data_dir = home / "postgres"
            reaper.watch_postgres(data_dir.resolve())
            server = start_postgres(data_dir)
            stack.callback(reaper.release_postgres, data_dir.resolve())
            stack.callback(stop_postgres, data_dir)
            admin_url = server.url()
        ensure_database(admin_url, "txn")
        ensure_database(admin_url, "dagster")
        migrate(database_url_for(admin_url, "txn"))
        source_env = {"TXN_SOURCE": settings.source} if settings.source != "none" else {}
        if settings.source == "local":
            transactions, importance = _source_files(settings)
            source_env.update(
                TXN_TRANSACTIONS_PATH=str(transactions), TXN_IMPORTANCE_PATH=str(importance)
            )
        env = {
            "TXN_HOME": str(home),
            "TXN_DATABASE_URL": database_url_for(admin_url, "txn"),
            "TXN_DAGSTER_PG_URL": database_url_for(
                admin_url, "dagster", scheme="postgresql+psycopg2"
            ),
            "DAGSTER_HOME": str(_dagster_home(home)),
            **source_env,
            "TXN_CHUNK_ROWS": str(settings.chunk_rows),
            "TXN_STORE": "local" if settings.store == "local" else "azure",
            "TXN_STORE_ROOT": str(home / "blob"),
            "TXN_SCRATCH_DIR": str(scratch_folder(home)),
            "TXN_LOG_DIR": str(home / "logs"),
        }
        if settings.store == "azurite":
            from txn_assets.lib.services.azurite import start_azurite

            azurite = start_azurite(home / "azurite", supervisor)
            stack.callback(azurite.stop)
            env.update(azurite.environment())
        os.environ.update(env)
        if not os.environ.get("DATABASE_URL"):  # Dagster's storage is this home's own
            fail_orphaned_runs(
                f"the txn-assets process of {home} stopped while this run was in progress"
            )
        yield LocalStack(home, env, supervisor)
