"""Faults inflicted on real processes and real services, judged against an undisturbed run.

`kill -9` of the parent alone and of its whole process group, a killed PostgreSQL with a stale
pid file, leftover temporary files, an immediate PostgreSQL restart, a second command on a home
in use, `kill -9` and SIGTERM of `txn-assets dev`. After each: nothing of the home keeps running,
and the same command again gives exactly the undisturbed run's detection files.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from txn_assets.lib.services.postgres import pg_ctl
from txn_assets.stack import PROJECT_ROOT, home_database_url
from txn_assets_tests.devstack import cli, detection_rows, dev_stack, source_args, stream_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(e2e_files):
    return e2e_files


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, **stream_env()}


@pytest.fixture(scope="module")
def expected(e2e_reference_home):
    """The undisturbed run's detections."""
    rows = detection_rows(e2e_reference_home / "blob")
    assert len(rows) > 20, "the data must produce detections"
    return rows


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a JVM
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def home_processes(home: Path) -> list[psutil.Process]:
    """Every process that works for this home (by command line or environment)."""
    mine = os.getpid()
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.pid == mine:
            continue
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = process.environ() if str(home) not in cmdline else {}
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if str(home) in cmdline or environ.get("TXN_HOME") == str(home):
            found.append(process)
    return found


def _wait_for_no_processes(home: Path, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not home_processes(home):
            return time.monotonic() - started
        time.sleep(0.2)
    left = [" ".join(p.cmdline())[:120] for p in home_processes(home)]
    raise AssertionError(f"still running {timeout_s:.0f}s later: {left}")


def _start_run(home: Path, files, interval: float) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "txn_assets.cli", "run", "--home", str(home)),
            *("--interval", str(interval), *source_args(files)),
        ],
        cwd=PROJECT_ROOT,
        env=_env(),
        stdout=(home / "console.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _applied(home: Path) -> int:
    try:
        with psycopg.connect(home_database_url(home), connect_timeout=2) as conn:
            return int(conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone()[0])
    except (RuntimeError, psycopg.Error):
        return 0  # not started yet, or migrating


def _wait_for_applied(home: Path, process: subprocess.Popen[bytes], at_least: int) -> None:
    deadline = time.monotonic() + 240
    while _applied(home) < at_least:
        assert process.poll() is None, (home / "console.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the stream did not move"
        time.sleep(0.2)


def _finish(home: Path, files, expected) -> None:
    """The same command again, to the end: exactly the undisturbed detections."""
    done = cli("run", "--home", str(home), "--interval", "0", *source_args(files), env=_env())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert detection_rows(home / "blob") == expected
    _wait_for_no_processes(home, 15)


def test_kill_9_of_run_alone_then_of_its_group_twice_a_killed_database_and_leftovers_then_exact(
    files, expected, tmp_path
):
    home = tmp_path / "home"
    for at_least in (1, 3, 5):
        run = _start_run(home, files, 0.4)
        _wait_for_applied(home, run, at_least)
        if at_least == 1:  # the parent alone, as the out-of-memory killer would
            os.kill(run.pid, signal.SIGKILL)
        else:
            if at_least == 3:  # the database dies too, leaving its pid file behind
                pid = int((home / "postgres" / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        took = _wait_for_no_processes(home, 15)
        print(f"everything of the killed run gone {took:.1f}s later")
    # A store write cut short leaves a temporary file; it must never count as a chunk.
    (home / "blob" / "staging" / ".tmp-cut-short.part").write_bytes(b"step,cust")
    _finish(home, files, expected)
    assert not list((home / "blob").rglob(".tmp-*"))


def test_a_second_run_is_refused_and_an_immediate_database_restart_is_survived(
    files, expected, tmp_path
):
    home = tmp_path / "home"
    run = _start_run(home, files, 0.8)
    _wait_for_applied(home, run, 1)
    # A second command on the home in use: one clear line, and the first goes on undisturbed.
    second = cli("run", "--home", str(home), *source_args(files), env=_env(), timeout=120)
    assert second.returncode == 1
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(f"txn-assets run: {home} is in use by txn-assets run (pid {run.pid}")
    assert "full log:" in line
    _wait_for_applied(home, run, 2)
    assert _applied(home) < 12, "the restart must come mid-stream"
    pg_ctl(home / "postgres", "restart", "-m", "immediate")
    assert run.wait(300) == 0, (home / "console.log").read_text()[-3000:]
    assert detection_rows(home / "blob") == expected
    _wait_for_no_processes(home, 15)


def test_dev_listens_on_loopback_only_refuses_a_port_in_use_and_kill_9_stops_all(files, tmp_path):
    home = tmp_path / "home"
    with dev_stack(home, files) as dev:
        processes = home_processes(home)
        assert len(processes) >= 5  # dagster dev, webserver, daemon, code server, ...
        listening = {
            (" ".join(p.cmdline())[:60], c.laddr.ip)
            for p in processes
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening, "the webserver, PostgreSQL and Spark Connect listen"
        assert all(_loopback(ip) for _, ip in listening), listening
        # Another dev asked for the port this one serves on: one clear line, not a silent
        # `dagster dev` without a UI (its webserver cannot bind, its daemon would go on).
        other = cli(
            "dev", "--home", str(tmp_path / "other"), "--port", str(dev.ui.port),
            "--spark", "local", *source_args(files), env=_env(), timeout=180,
        )  # fmt: skip
        assert other.returncode == 1, other.stdout + other.stderr
        assert (
            other.stderr.strip()
            .splitlines()[-1]
            .startswith(
                f"txn-assets dev: port {dev.ui.port} on 127.0.0.1 is in use: choose another with --port"
            )
        ), other.stderr
        _wait_for_no_processes(tmp_path / "other", 10)
        os.kill(dev.process.pid, signal.SIGKILL)
        took = _wait_for_no_processes(home, 20)
    print(f"everything of the killed dev gone {took:.1f}s later")


def test_sigterm_stops_dev_within_seconds(files, tmp_path):
    home = tmp_path / "home"
    with dev_stack(home, files) as dev:
        started = time.monotonic()
        dev.process.send_signal(signal.SIGTERM)
        assert dev.process.wait(30) == 143
        took = time.monotonic() - started
        _wait_for_no_processes(home, 5)
    print(f"txn-assets dev stopped {took:.1f}s after SIGTERM")
    assert took < 15
