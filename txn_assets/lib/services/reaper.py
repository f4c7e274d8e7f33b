"""The reaper: a small process that stops what `txn-assets run|dev` started if they die.

`txn-assets` starts it first and keeps a pipe to its stdin open for as long as it lives. It
registers every service it starts (a process group, an embedded PostgreSQL) with one line on
the pipe, and releases it again once it has stopped it itself. When the pipe closes without the
releases (the parent was killed, even with `kill -9`, or died of out-of-memory), the reaper stops
what is still registered and exits. It also holds the home's lock until it is done, so the next
start on the same home never races the cleanup.

Protocol, one command per line: `group PGID`, `postgres DATA_DIR`, `release group PGID`,
`release postgres DATA_DIR`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

GRACE_SECONDS = 5.0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, grace_s: float = GRACE_SECONDS) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after the grace period."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.1)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _serve(commands: IO[str]) -> None:
    groups: list[int] = []
    servers: list[str] = []
    for raw in commands:
        words = raw.split(maxsplit=2)
        if words[:1] == ["group"]:
            groups.append(int(words[1]))
        elif words[:1] == ["postgres"]:
            servers.append(raw.split(maxsplit=1)[1].strip())
        elif words[:2] == ["release", "group"] and int(words[2]) in groups:
            groups.remove(int(words[2]))
        elif words[:2] == ["release", "postgres"] and words[2].strip() in servers:
            servers.remove(words[2].strip())
    # The parent is gone (or closed the pipe after releasing everything): stop what is left,
    # newest first, as the parent would have.
    for pgid in reversed(groups):
        print(f"stopping process group {pgid}", flush=True)
        stop_group(pgid)
    for data_dir in reversed(servers):
        print(f"stopping PostgreSQL in {data_dir}", flush=True)
        from txn_assets.lib.services.postgres import stop_postgres

        stop_postgres(Path(data_dir))


class Reaper:
    """The parent's handle on its reaper process."""

    def __init__(self, home: Path, keep_fds: tuple[int, ...] = ()) -> None:
        log = home / "logs" / "reaper.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "txn_assets.lib.services.reaper"],
            env={**os.environ, "TXN_HOME": str(home)},
            stdin=subprocess.PIPE,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the parent's group: a group kill spares it
            pass_fds=keep_fds,  # the home lock: held until the cleanup is done
            text=True,
        )

    def _say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def watch_group(self, pgid: int) -> None:
        """Stop this process group if the parent dies."""
        self._say(f"group {pgid}")

    def release_group(self, pgid: int) -> None:
        self._say(f"release group {pgid}")

    def watch_postgres(self, data_dir: Path) -> None:
        """Stop the PostgreSQL of this data folder if the parent dies."""
        self._say(f"postgres {data_dir}")

    def release_postgres(self, data_dir: Path) -> None:
        self._say(f"release postgres {data_dir}")

    def close(self) -> None:
        """Everything was stopped by the parent: let the reaper exit."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)


if __name__ == "__main__":
    # Ctrl-C in the parent's terminal reaches its whole group; the reaper is in its own session
    # but ignores SIGINT anyway: it leaves only when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin)
