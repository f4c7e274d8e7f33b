"""The store interface. Writes are create-only: nothing ever overwrites an object."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PutOutcome(enum.Enum):
    """What a create-only put found."""

    CREATED = "created"
    IDENTICAL = "identical"  # a rerun: the same bytes were already there, nothing to do


class ObjectConflictError(RuntimeError):
    """An object exists under the key with different bytes: never clobbered, always reported."""


class ObjectStore(ABC):
    """Keys are '/'-separated paths relative to the store's root (container or folder)."""

    @abstractmethod
    def _create(self, key: str, data: bytes) -> bool:
        """Create key with data atomically; False if the key already exists."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; KeyError if absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Keys under prefix, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object (only to replace one proven corrupt against its recorded md5)."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where a user finds the object (file path or blob URL), for metadata and logs."""

    def put_new(self, key: str, data: bytes) -> PutOutcome:
        """Create-only write: identical existing bytes count as done, different ones raise."""
        if self._create(key, data):
            return PutOutcome.CREATED
        if self.get(key) == data:
            return PutOutcome.IDENTICAL
        raise ObjectConflictError(
            f"{self.uri(key)} exists with different content; refusing to overwrite"
        )

    @contextmanager
    def local_copy(self, key: str, scratch: Path) -> Iterator[Path]:
        """A local file with the object's bytes, for readers (Spark) that need a path."""
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / key.replace("/", "__")
        path.write_bytes(self.get(key))
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
