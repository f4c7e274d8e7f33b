"""A source file read by byte ranges, so a tick fetches only what the next chunk needs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceIdentity:
    """What identifies a source's content: if any of it changes, the stream must stop."""

    name: str
    size: int
    md5: str
    modified: str = ""


class SourceChangedError(RuntimeError):
    """The source file changed under a running stream; cutting on would mix two files."""


class RangedSource(ABC):
    """A read-only file with metadata and ranged reads."""

    @abstractmethod
    def identity(self) -> SourceIdentity:
        """Size and checksum as the source reports them now."""

    @abstractmethod
    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end) — fewer only at the end of the file."""

    def download_to(self, path: Path, block_size: int = 8 << 20) -> Path:
        """Stream the whole file to a local path, block by block (never all in memory)."""
        size = self.identity().size
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        with tmp.open("wb") as out:
            for start in range(0, size, block_size):
                out.write(self.read_range(start, min(start + block_size, size)))
        tmp.replace(path)
        return path
