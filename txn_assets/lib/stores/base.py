"""The store interface. Writes are create-only: nothing ever overwrites an object."""

from __future__ import annotations

import enum
import re
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


class InvalidKeyError(ValueError):
    """A key that could leave the store's folder or container, or name a hidden object."""


# Segments of letters, digits, '.', '_' and '-' that do not start with '.': no '..', no
# absolute paths, no backslashes, no hidden (temporary) objects.
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")


def check_key(key: str, prefix: bool = False) -> str:
    """The key itself, if it is safe (an empty prefix means the whole store)."""
    if (prefix and key == "") or _KEY.fullmatch(key.rstrip("/") if prefix else key):
        return key
    raise InvalidKeyError(f"not a valid store key: {key!r}")


class ObjectStore(ABC):
    """Keys are '/'-separated paths relative to the store's root (container or folder).

    Every key is checked (`check_key`) before it reaches an implementation, so a crafted
    setting or name cannot reach outside the store.
    """

    @abstractmethod
    def _create(self, key: str, data: bytes) -> bool:
        """Create key with data atomically; False if the key already exists."""

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """The object's bytes; KeyError if absent."""

    @abstractmethod
    def _exists(self, key: str) -> bool:
        """Whether an object is stored under key."""

    @abstractmethod
    def _list(self, prefix: str) -> list[str]:
        """Keys under prefix, sorted (never temporary objects)."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Remove an object."""

    @abstractmethod
    def _uri(self, key: str) -> str:
        """Where a user finds the object."""

    def get(self, key: str) -> bytes:
        """The object's bytes; KeyError if absent."""
        return self._get(check_key(key))

    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""
        return self._exists(check_key(key))

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under prefix, sorted."""
        return self._list(check_key(prefix, prefix=True))

    def delete(self, key: str) -> None:
        """Remove an object (only to replace one proven corrupt against its recorded md5)."""
        self._delete(check_key(key))

    def uri(self, key: str) -> str:
        """Where a user finds the object (file path or blob URL), for metadata and logs."""
        return self._uri(check_key(key, prefix=True))

    def put_new(self, key: str, data: bytes) -> PutOutcome:
        """Create-only write: identical existing bytes count as done, different ones raise."""
        if self._create(check_key(key), data):
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
