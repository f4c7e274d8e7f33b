"""Naming of chunks: one concept, one spelling, shared by producer, sensor and engine."""

from __future__ import annotations

import re

CHUNK_KEY_DIGITS = 6
_CHUNK_FILE_RE = re.compile(rf"^chunk-(\d{{{CHUNK_KEY_DIGITS}}})\.csv$")


def chunk_key(index: int) -> str:
    """Zero-padded so that string order (Dagster's partition order) equals chunk order."""
    if index < 0 or index >= 10**CHUNK_KEY_DIGITS:
        raise ValueError(f"chunk index out of range: {index}")
    return f"{index:0{CHUNK_KEY_DIGITS}d}"


def chunk_index(key: str) -> int:
    """Inverse of chunk_key; rejects keys that chunk_key would not produce."""
    if len(key) != CHUNK_KEY_DIGITS or not key.isdigit():
        raise ValueError(f"not a chunk key: {key!r}")
    return int(key)


def chunk_file_name(index: int) -> str:
    """File name of a staged chunk inside the staging prefix."""
    return f"chunk-{chunk_key(index)}.csv"


def chunk_index_from_file_name(name: str) -> int | None:
    """The chunk index a staged file name encodes, or None for any other object."""
    match = _CHUNK_FILE_RE.match(name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None
