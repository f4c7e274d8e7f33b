"""A file on local disk as a source: the embedded default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.sources.base import RangedSource, SourceIdentity

# md5 by (path, size, mtime): a long-lived process (the code server evaluating the sensor every
# second, the producer loop) hashes a file again only when it changes.
_MD5_CACHE: dict[tuple[str, int, int], str] = {}


class LocalFileSource(RangedSource):
    """Reads a local file; its md5 is recomputed only when size or mtime change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def identity(self) -> SourceIdentity:
        stat = self.path.stat()
        key = (str(self.path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _MD5_CACHE:
            _MD5_CACHE[key] = md5_file(self.path)
        modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
        return SourceIdentity(self.path.name, stat.st_size, _MD5_CACHE[key], modified)

    def read_range(self, start: int, end: int) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))

    def download_to(self, path: Path, block_size: int = 8 << 20) -> Path:
        """Already local: nothing to copy."""
        return self.path
