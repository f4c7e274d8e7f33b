"""One way to fingerprint bytes: the md5 that X records, Y verifies and the file checks compare."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20


def md5_bytes(data: bytes) -> str:
    """Hex md5 of bytes in memory (a chunk or a detection file)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: Path) -> str:
    """Hex md5 of a file, read block by block (reference files can be large)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
