"""A folder on local disk as a store: the embedded default."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from txn_assets.lib.stores.base import ObjectStore, check_key


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalFolderStore(ObjectStore):
    """Objects are files under root; a put is a temp file hard-linked into place.

    The file and its folder are fsynced before the put returns, so that a power cut cannot
    lose an object the state database already records. Temporary files are never listed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key escapes the store root: {key!r}")
        return path

    def _create(self, key: str, data: bytes) -> bool:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, then link: readers never see a half-written file, and link() fails if
        # the name exists, which makes the write create-only even against another writer.
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                return False
            _fsync_folder(final.parent)  # the new name is durable before anyone records it
            return True
        finally:
            os.unlink(tmp)

    def _get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path.read_bytes()

    def _exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        keys = [
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        ]
        return sorted(keys)

    def _uri(self, key: str) -> str:
        return str(self._path(key))

    @contextmanager
    def local_copy(self, key: str, scratch: Path) -> Iterator[Path]:
        """The file itself: no copy needed on local disk."""
        path = self._path(check_key(key))
        if not path.is_file():
            raise KeyError(key)
        yield path
