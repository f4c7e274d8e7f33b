"""Every store implementation honours the same contract (create-only, atomic, listable)."""

from __future__ import annotations

import pytest

from txn_assets.lib.stores.base import InvalidKeyError, ObjectConflictError, PutOutcome
from txn_assets.lib.stores.local import LocalFolderStore


@pytest.fixture(params=["local", "azurite"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalFolderStore(tmp_path / "root")
    return request.getfixturevalue("azure_store_resource").staging()


def test_put_new_creates_then_treats_identical_bytes_as_done(store):
    assert store.put_new("staging/chunk-000000.csv", b"abc") is PutOutcome.CREATED
    assert store.put_new("staging/chunk-000000.csv", b"abc") is PutOutcome.IDENTICAL
    assert store.get("staging/chunk-000000.csv") == b"abc"


def test_put_new_never_clobbers_different_bytes(store):
    store.put_new("a/b.csv", b"first")
    with pytest.raises(ObjectConflictError):
        store.put_new("a/b.csv", b"second")
    assert store.get("a/b.csv") == b"first"


def test_list_keys_is_sorted_and_scoped_to_the_prefix(store):
    for key in ("staging/chunk-000002.csv", "staging/chunk-000001.csv", "detections/x.csv"):
        store.put_new(key, b"x")
    assert store.list_keys("staging") == ["staging/chunk-000001.csv", "staging/chunk-000002.csv"]
    assert store.list_keys("nothing") == []


def test_missing_keys_are_reported(store):
    assert not store.exists("nope")
    with pytest.raises(KeyError):
        store.get("nope")


def test_local_copy_has_the_objects_bytes(store, tmp_path):
    store.put_new("staging/c.csv", b"hello")
    with store.local_copy("staging/c.csv", tmp_path / "scratch") as path:
        assert path.read_bytes() == b"hello"


def test_azure_store_writes_real_blobs_in_the_configured_container(azure_store_resource):
    staging = azure_store_resource.staging()
    staging.put_new("staging/chunk-000000.csv", b"rows")
    assert staging.uri("staging/chunk-000000.csv").endswith(
        f"/{azure_store_resource.staging_container}/staging/chunk-000000.csv"
    )
    assert azure_store_resource.output().list_keys("staging") == []


def test_abfss_paths_are_a_configuration_switch(azure_store_resource):
    assert azure_store_resource.spark_path("staging/c.csv") is None
    account = azure_store_resource.blob_storage.model_copy(
        update={"account_url": "https://acct.blob.core.windows.net"}
    )
    switched = azure_store_resource.model_copy(
        update={"spark_reads_abfss": True, "blob_storage": account}
    )
    assert switched.spark_path("staging/c.csv") == (
        f"abfss://{azure_store_resource.staging_container}@acct.dfs.core.windows.net/staging/c.csv"
    )


@pytest.mark.parametrize(
    "key", ["../outside.csv", "/etc/passwd", "staging/../../x", "a\\b", ".tmp-x.part", "a//b", ""]
)
def test_keys_that_could_leave_the_store_or_hide_are_refused(store, key):
    with pytest.raises(InvalidKeyError):
        store.put_new(key, b"x")
    with pytest.raises(InvalidKeyError):
        store.get(key)


def test_a_write_cut_short_is_never_listed(tmp_path):
    store = LocalFolderStore(tmp_path / "root")
    store.put_new("staging/chunk-000000.csv", b"rows")
    (tmp_path / "root" / "staging" / ".tmp-abc.part").write_bytes(b"half a ch")
    assert store.list_keys("staging") == ["staging/chunk-000000.csv"]
