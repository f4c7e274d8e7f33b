"""A file on local disk as a source: the embedded default."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from txn_assets.lib.sources.base import RangedSource, SourceIdentity


class LocalFileSource(RangedSource):
    """Reads a local file; its md5 is recomputed only when size or mtime change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[tuple[int, int], str] | None = None

    def identity(self) -> SourceIdentity:
        stat = self.path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        if self._cached is None or self._cached[0] != key:
            digest = hashlib.md5(usedforsecurity=False)
            with self.path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self._cached = (key, digest.hexdigest())
        modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
        return SourceIdentity(self.path.name, stat.st_size, self._cached[1], modified)

    def read_range(self, start: int, end: int) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))

    def download_to(self, path: Path, block_size: int = 8 << 20) -> Path:
        """Already local: nothing to copy."""
        return self.path
