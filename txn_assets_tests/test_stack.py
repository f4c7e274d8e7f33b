"""The local stack: its URL helper, and the imports it overlaps with PostgreSQL's start-up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from txn_assets.stack import (
    database_url_for,
    import_in_background,
)

# A fresh interpreter: preloads on a thread before the settings exist (as `run` does while
# PostgreSQL starts), then exports them and loads the definitions.
PRELOAD_THEN_SETTINGS = """
import os, sys
from txn_assets.stack import ENVIRONMENT_FREE_IMPORTS, import_in_background
import_in_background(*ENVIRONMENT_FREE_IMPORTS).join()
os.environ.update(TXN_HOME=sys.argv[1], TXN_SOURCE="drive", TXN_STORE="local")
from txn_assets.definitions import defs
from txn_assets.defs.catalog import SOURCE_FILE_KINDS
resources = defs.resources
print(type(resources["source"]).__name__, resources["stores"].root, sorted(SOURCE_FILE_KINDS))
"""

# A fresh interpreter (the stack exports its settings): a killed run's leftovers in the scratch
# folder, then a start whose early work (the warm-up) writes there at once.
START_AFTER_A_KILLED_RUN = """
import sys
from pathlib import Path
from txn_assets.stack import StackSettings, local_stack
home = Path(sys.argv[1])
(home / "scratch" / "left-by-a-killed-run").mkdir(parents=True)
def once_locked():
    (home / "scratch" / "txn-warm-up-started-early").mkdir(parents=True)
with local_stack(StackSettings(home, source="none"), "report", once_locked=once_locked):
    print(sorted(p.name for p in (home / "scratch").iterdir()))
"""

# A fresh interpreter on an embedded stack: the instance of the runs executed in this process and
# the instance of everything else; then a run in this process.
IN_PROCESS_RUNS = """
import os, sys, json
from pathlib import Path
import dagster as dg
from txn_assets.stack import StackSettings, in_process_instance, local_stack
with local_stack(StackSettings(Path(sys.argv[1]), source="none"), "report"):
    in_process, shared = in_process_instance(), dg.DagsterInstance.get()
    @dg.op
    def say_something():
        print("to the console, not captured")

    @dg.job
    def in_this_process():
        say_something()

    def captured(run_id):
        home = Path(os.environ["DAGSTER_HOME"])
        return [p.name for p in home.rglob("*") if run_id in str(p) and p.suffix in (".out", ".err")]

    run = in_this_process.execute_in_process(instance=in_process).run_id
    shared_run = in_this_process.execute_in_process(instance=shared).run_id
    print(json.dumps({
        "in_process_logs": type(in_process.compute_log_manager).__name__,
        "shared_logs": type(shared.compute_log_manager).__name__,
        "captured_files": captured(run),
        "captured_files_of_a_shared_run": captured(shared_run),
        "run_events_seen_by_the_shared_instance": len(shared.all_logs(run)),
    }))
"""


def test_another_database_keeps_credentials_and_options():
    url = database_url_for("postgresql://u:p%40ss@db.example:6543/postgres?sslmode=require", "txn")
    assert psycopg.conninfo.conninfo_to_dict(url) == {
        "user": "u",
        "password": "p@ss",
        "host": "db.example",
        "port": "6543",
        "dbname": "txn",
        "sslmode": "require",
    }


def test_sqlalchemy_scheme_for_dagster_storage():
    url = database_url_for(
        "postgresql://postgres@127.0.0.1:5432/postgres", "dagster", "postgresql+psycopg2"
    )
    assert url == "postgresql+psycopg2://postgres@127.0.0.1:5432/dagster"


def test_definitions_loaded_after_a_background_preload_follow_the_settings_exported_later(tmp_path):
    # CI once saw `run --source drive` read weights from ./.state: the preload had imported the
    # definitions before the stack exported TXN_SOURCE and TXN_HOME.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TXN_")}
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD_THEN_SETTINGS, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    source, store_root, kinds = done.stdout.split(" ", 2)
    assert source == "GoogleDriveSourceResource"
    assert store_root == str(tmp_path / "blob")
    assert "googledrive" in kinds


def test_modules_that_read_the_settings_are_refused_in_the_background():
    with pytest.raises(ValueError, match="read the environment"):
        import_in_background("txn_assets.runner", "txn_assets.definitions")


def _last_line_on_an_embedded_stack(script: str, home: Path) -> str:
    """Run `script` in a fresh interpreter (it starts its own embedded stack on `home`)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_start_clears_a_killed_runs_scratch_before_its_early_work_writes_there(tmp_path):
    last = _last_line_on_an_embedded_stack(START_AFTER_A_KILLED_RUN, tmp_path / "home")
    assert last == "['txn-warm-up-started-early']"


def test_runs_in_this_process_share_the_history_without_capturing_output(tmp_path):
    """`run`'s Y runs: the home's storage (the shared instance sees their events), no per-run
    stdout capture (no tail processes, no captured files)."""
    seen = json.loads(_last_line_on_an_embedded_stack(IN_PROCESS_RUNS, tmp_path / "home"))
    assert seen["in_process_logs"] == "NoOpComputeLogManager"
    assert seen["shared_logs"] == "LocalComputeLogManager"
    assert seen["captured_files"] == []  # no stdout/stderr files for the in-process run...
    assert seen["captured_files_of_a_shared_run"]  # ...where dagster.yaml's instance writes them
    assert seen["run_events_seen_by_the_shared_instance"] > 5
