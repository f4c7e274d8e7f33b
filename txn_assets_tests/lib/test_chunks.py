"""Chunk keys sort like chunk indexes, and staged file names round-trip."""

import pytest

from txn_assets.lib.chunks import (
    chunk_file_name,
    chunk_index,
    chunk_index_from_file_name,
    chunk_key,
)


def test_keys_are_zero_padded_so_string_order_is_chunk_order():
    keys = [chunk_key(i) for i in (0, 9, 10, 100, 59)]
    assert keys[0] == "000000"
    assert sorted(keys) == [chunk_key(i) for i in sorted((0, 9, 10, 100, 59))]


def test_key_and_file_name_round_trip():
    assert chunk_index(chunk_key(42)) == 42
    assert chunk_index_from_file_name("staging/" + chunk_file_name(42)) == 42
    assert chunk_index_from_file_name("staging/_stream_end.json") is None


@pytest.mark.parametrize("bad", ["42", "00004a", "-00001", ""])
def test_malformed_keys_are_rejected(bad):
    with pytest.raises(ValueError):
        chunk_index(bad)
