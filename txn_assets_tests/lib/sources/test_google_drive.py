"""The Drive source with the real google-api-python-client against a Drive-compatible server."""

from __future__ import annotations

import hashlib

import pytest
from googleapiclient.errors import HttpError

from txn_assets.lib.generate import generate
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.lib.sources.google_drive import (
    DriveAccessDeniedError,
    DriveFileNotFoundError,
    DriveSettings,
    GoogleDriveSource,
)
from txn_assets.lib.sources.local_file import LocalFileSource
from txn_assets.lib.stores.local import LocalFolderStore


@pytest.fixture
def content(tmp_path):
    return generate(tmp_path / "src", rows=3_000, seed=4).transactions.read_bytes()


def _source(drive_server, service_account_key, file="tx-id", folder=""):
    return GoogleDriveSource(
        DriveSettings(
            file=file,
            folder_id=folder,
            credentials=service_account_key[0],
            api_endpoint=drive_server.api_endpoint,
            token_uri=drive_server.token_uri,
        )
    )


def test_metadata_and_ranges_come_from_drive(drive_server, service_account_key, content):
    drive_server.add("tx-id", "transactions.csv", "folder-1", content)
    source = _source(drive_server, service_account_key)
    identity = source.identity()
    assert (identity.name, identity.size, identity.md5) == (
        "transactions.csv",
        len(content),
        hashlib.md5(content).hexdigest(),
    )
    assert source.read_range(100, 250) == content[100:250]
    assert source.read_range(len(content) - 5, len(content) + 100) == content[-5:]
    assert drive_server.state.tokens_issued == 1, "the service-account JWT flow obtained the token"


def test_file_is_found_by_name_in_a_folder(drive_server, service_account_key, content):
    drive_server.add("other", "transactions.csv", "folder-2", b"x")
    drive_server.add("tx-id", "transactions.csv", "folder-1", content)
    source = _source(drive_server, service_account_key, file="transactions.csv", folder="folder-1")
    assert source.file_id() == "tx-id"
    with pytest.raises(DriveFileNotFoundError, match="expected one"):
        _source(drive_server, service_account_key, file="missing.csv", folder="folder-1").file_id()


def test_chunks_cut_from_drive_equal_chunks_cut_from_the_local_file(
    drive_server, service_account_key, content, conn, database_url, tmp_path
):
    import psycopg

    drive_server.add("tx-id", "transactions.csv", "f", content)
    local_path = tmp_path / "local.csv"
    local_path.write_bytes(content)
    drive_store, local_store = LocalFolderStore(tmp_path / "d"), LocalFolderStore(tmp_path / "l")
    drive_chunks = []
    while c := cut_next_chunk(
        conn, _source(drive_server, service_account_key), drive_store, "staging", 1_000
    ):
        drive_chunks.append(c)
    conn.execute("TRUNCATE txn.producer, txn.staged_chunk")
    conn.commit()
    with psycopg.connect(database_url) as other:
        while cut_next_chunk(other, LocalFileSource(local_path), local_store, "staging", 1_000):
            pass
    assert len(drive_chunks) == 3
    assert [drive_store.get(c.key) for c in drive_chunks] == [
        local_store.get(c.key) for c in drive_chunks
    ]
    media = [r for r in drive_server.state.requests if "alt=media" in r]
    assert len(media) <= 6, "each tick fetches only the ranges the next chunk needs"


def test_missing_file_is_a_clear_error(drive_server, service_account_key):
    with pytest.raises(DriveFileNotFoundError, match="nope"):
        _source(drive_server, service_account_key, file="nope").identity()


def test_forbidden_file_is_a_clear_error(drive_server, service_account_key, content):
    drive_server.add("tx-id", "transactions.csv", "f", content)
    drive_server.state.forbidden.add("tx-id")
    with pytest.raises(DriveAccessDeniedError, match="share it"):
        _source(drive_server, service_account_key).read_range(0, 10)


def test_server_errors_are_retried(drive_server, service_account_key, content, monkeypatch):
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda s: None)
    drive_server.add("tx-id", "transactions.csv", "f", content)
    drive_server.state.fail_next = 3
    assert _source(drive_server, service_account_key).read_range(0, 50) == content[:50]
    drive_server.state.fail_next = 99
    with pytest.raises(HttpError):
        _source(drive_server, service_account_key).read_range(0, 50)


def test_short_reads_are_completed(drive_server, service_account_key, content):
    drive_server.add("tx-id", "transactions.csv", "f", content)
    drive_server.state.short_reads = True
    assert _source(drive_server, service_account_key).read_range(0, 5_000) == content[:5_000]
