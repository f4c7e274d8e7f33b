"""One `txn-assets run|dev` per home at a time: a lock file, held while the home is in use."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".txn-assets.lock"


class HomeInUseError(RuntimeError):
    """Another txn-assets process works on this home."""


@contextmanager
def home_lock(home: Path, command: str) -> Iterator[int]:
    """Hold the home's lock (its file descriptor is yielded, to be shared with the reaper)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = path.read_text(errors="replace").strip() or "another process"
        os.close(fd)
        raise HomeInUseError(
            f"{home} is in use by {holder}; stop it first, or give another --home"
        ) from None
    os.ftruncate(fd, 0)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    os.write(fd, f"txn-assets {command} (pid {os.getpid()}, since {started})\n".encode())
    try:
        yield fd
    finally:
        os.close(fd)
