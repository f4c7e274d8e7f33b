"""The local stack: its URL helper, and the imports it overlaps with PostgreSQL's start-up."""

import os
import subprocess
import sys

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


def test_the_start_clears_a_killed_runs_scratch_before_its_early_work_writes_there(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", START_AFTER_A_KILLED_RUN, str(tmp_path / "home")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['txn-warm-up-started-early']"
