"""Secrets set for a whole stream never show up in its logs, events, run configs or console."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest

from txn_assets.lib.generate import generate
from txn_assets.lib.services.azurite import ACCOUNT_KEY
from txn_assets.stack import database_url_for
from txn_assets_tests.devstack import cli, stream_env

pytestmark = pytest.mark.slow


def _with_password(url: str, password: str) -> str:
    """The same server with a password in the URL (the test server trusts loopback anyway)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["password"] = password
    return database_url_for(psycopg.conninfo.make_conninfo(**info), str(info.get("dbname")))


def test_no_secret_reaches_logs_events_run_config_or_console(
    fresh_server_databases, drive_server, service_account_key, tmp_path
):
    files = generate(tmp_path / "src", rows=3_000, seed=13)
    drive_server.add("tx", "transactions.csv", "folder", files.transactions.read_bytes())
    drive_server.add("imp", "CustomerImportance.csv", "folder", files.importance.read_bytes())
    password = f"pw-{uuid.uuid4().hex}"
    key_json = service_account_key[0]
    private_key_line = json.loads(key_json)["private_key"].splitlines()[5]
    env = {
        **os.environ,
        **stream_env(),
        "DATABASE_URL": _with_password(fresh_server_databases, password),
        "TXN_DRIVE_FOLDER_ID": "folder",
        "TXN_DRIVE_API_ENDPOINT": drive_server.api_endpoint,
        "TXN_DRIVE_TOKEN_URI": drive_server.token_uri,
        "GOOGLE_SERVICE_ACCOUNT_JSON": key_json,
    }
    home = tmp_path / "home"
    args = ("run", "--home", str(home), "--store", "azurite", "--source", "drive")
    done = cli(*args, "--chunk-rows", "1000", "--interval", "0", env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "3 chunks applied" in done.stdout

    secrets = {"database password": password, "storage key": ACCOUNT_KEY}
    secrets["service-account key"] = private_key_line
    texts = {"console": done.stdout + done.stderr}
    for path in home.rglob("*"):
        if path.is_file() and "azurite" not in path.parts:  # the emulator's own data files
            texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    with psycopg.connect(database_url_for(fresh_server_databases, "dagster")) as conn:
        texts["event log"] = "\n".join(r[0] for r in conn.execute("SELECT event FROM event_logs"))
        texts["runs"] = "\n".join(r[0] for r in conn.execute("SELECT run_body FROM runs"))
    assert len(texts["event log"]) > 10_000, "the stream's events are there to be searched"
    leaks = [(name, where) for name, secret in secrets.items() for where, text in texts.items()
             if secret in text]  # fmt: skip
    assert leaks == []
