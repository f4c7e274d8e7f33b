"""Waiting for a standalone cluster's workers, against a master UI that starts up as Spark's does.

The real cluster runs in `test_engines.py`; here the master's /json endpoint is a loopback HTTP
server that answers an empty page first (CI once saw Spark's UI do so while starting, and the
wait failed on it), then the state with one worker registered, then both.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from txn_assets.lib.services.spark_cluster import SparkCluster, wait_for_workers

STARTING_UP = [b"", b"<html>starting</html>"]


def _state(alive: int) -> bytes:
    workers = [{"id": f"w{n}", "state": "ALIVE" if n < alive else "DEAD"} for n in range(2)]
    return json.dumps({"url": "spark://127.0.0.1:7077", "workers": workers}).encode()


@pytest.fixture
def master_ui() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server that gives its queued answers in order, then repeats the last."""
    answers = [*STARTING_UP, _state(1), _state(2)]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], answers
    server.shutdown()
    server.server_close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stand-ins for the master and worker JVMs: alive until the test ends."""
    started = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    yield started
    for process in started:
        process.kill()
        process.wait()


def test_the_wait_outlasts_a_ui_that_answers_before_it_has_a_page(master_ui, processes, tmp_path):
    ui_port, answers = master_ui
    master, *workers = processes
    cluster = SparkCluster(master, 7077, ui_port, supervisor=None, workers=workers)  # type: ignore[arg-type]

    wait_for_workers(cluster, 2, timeout_s=30, base_dir=tmp_path)

    assert answers == [_state(2)], "returned only once both workers were alive"
    assert cluster.alive_workers() == 2


def test_a_worker_that_exits_while_waiting_is_one_clear_error(master_ui, processes, tmp_path):
    ui_port, _ = master_ui
    master, *workers = processes
    workers[1].kill()
    workers[1].wait()
    cluster = SparkCluster(master, 7077, ui_port, supervisor=None, workers=workers)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match=f"the Spark worker exited early .*{tmp_path}"):
        wait_for_workers(cluster, 2, timeout_s=30, base_dir=Path(tmp_path))
