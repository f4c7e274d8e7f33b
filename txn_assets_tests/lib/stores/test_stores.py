"""Every store implementation honours the same contract (create-only, atomic, listable)."""

from __future__ import annotations

import pytest

from txn_assets.lib.stores.base import ObjectConflictError, PutOutcome
from txn_assets.lib.stores.local import LocalFolderStore


@pytest.fixture(params=["local"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalFolderStore(tmp_path / "root")
    raise AssertionError(request.param)


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
