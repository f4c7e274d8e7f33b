"""`txn-assets dev` driven as a user drives the UI (its GraphQL API): the daemon's sensor runs,
a killed run worker, backfills. Outcomes are read from the home's database and store, and the
detections compared with `txn-assets run` on the same data."""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest

from txn_assets.dagster_run_launcher import WORKER_TAG
from txn_assets.definitions import defs
from txn_assets.stack import PROJECT_ROOT
from txn_assets_tests.browser import BrowserUI, browser_page, screenshot_dir
from txn_assets_tests.devstack import (
    DevStack,
    detection_rows,
    dev_stack,
    state_snapshot,
)

pytestmark = pytest.mark.slow

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
X_CONFIG = {"ops": {"produce_chunks": {"config": {"interval_seconds": 0.5}}}}
CHUNK_ASSETS = ["pattern_state", "chunk_detections", "detection_files"]
# Screenshots of the browser test: kept with the checkout (CI collects them), or where
# TXN_SCREENSHOT_DIR says (`make screenshots` writes the README's).
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def files(e2e_files):
    return e2e_files


@pytest.fixture(scope="module")
def expected_rows(e2e_reference_home):
    """What `txn-assets run` detects on the same data: the reference for every dev path."""
    rows = detection_rows(e2e_reference_home / "blob")
    assert {r[0] for r in rows} == {"PatId1", "PatId2", "PatId3"}, "every pattern fires"
    return rows


def _all_filed(dev: DevStack) -> bool:
    """Every chunk applied, every detection in a file, and no run of the stream in flight."""
    import psycopg

    if not dev.finished() or not dev.quiet():
        return False
    with psycopg.connect(dev.database_url) as conn:
        filed, total = conn.execute(
            "SELECT (SELECT coalesce(sum(rows), 0) FROM txn.detection_file), (SELECT count(*) FROM txn.detection)"
        ).fetchone()
    return filed == total


def _runs(dev: DevStack, job: str):
    return [r for r in dev.ui.runs() if r.job_name == job]


class TestAStreamStartedFromTheUI:
    """One stream started from the UI, a Y run worker killed mid-way, then seen in a browser."""

    @pytest.fixture(scope="class")
    def stream(self, files, tmp_path_factory):
        """Sensor on and X launched before the weights exist; the worker of the first Y run
        seen in progress is killed (kill -9); run until everything is filed."""
        with dev_stack(tmp_path_factory.mktemp("ui") / "home", files) as dev:
            dev.ui.start_sensor()
            dev.ui.launch_job("mechanism_x_job", X_CONFIG)
            run_id, pid = dev.ui.wait_for(
                "a Y run in progress", lambda: _started_y_worker(dev), 300, every_s=0.3
            )
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            dev.ui.wait_for("every detection in files", lambda: _all_filed(dev), 420, every_s=2)
            print(f"healed {time.monotonic() - killed_at:.1f}s after the kill")
            yield dev, run_id

    @pytest.fixture(scope="class")
    def dev(self, stream):
        return stream[0]

    def test_the_stream_completes_exactly_once_though_x_came_first_and_a_y_worker_was_killed(
        self, stream, expected_rows
    ):
        dev, killed_run_id = stream
        assert detection_rows(dev.home / "blob") == expected_rows
        snapshot = state_snapshot(dev.database_url)
        assert [row[0] for row in snapshot["applied_chunk"]] == list(range(12))
        assert [row[0] for row in snapshot["detection"]] == list(range(len(expected_rows)))
        (weights,) = _runs(dev, "customer_weights_job")
        assert weights.status == "SUCCESS"
        y_runs = _runs(dev, "mechanism_y_job")
        failed = {r.run_id for r in y_runs if r.status != "SUCCESS"}
        assert failed == {killed_run_id}, y_runs
        # No Y run started before the weights run had finished: X coming first failed nothing.
        assert min(r.start_time for r in y_runs) >= weights.end_time

    def test_a_browser_shows_the_graph_the_applied_partitions_and_why_the_sensor_waits(self, dev):
        chunks = dev.status()[1]
        with browser_page() as page:
            ui = BrowserUI(page, dev.ui.base_url, screenshot_dir(ARTIFACTS))
            defined = {
                key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()
            }
            shown = ui.asset_graph(defined)
            assert shown == defined, f"assets missing on the graph: {defined - shown}"
            counts = ui.partitions("pattern_state", first="000000")
            assert counts == {"Failed": 0, "Materialized": chunks, "Missing": 0}, counts
            assert ui.page.get_by_text("latency_s").count() >= 1, "per-chunk table with latency"
            assert ui.sensor_skip_reason("new_chunk_sensor") == (
                f"the stream is complete: all {chunks} chunks applied"
            )
            ui.materialize("stream_report")
            dev.ui.wait_for("the report run", lambda: _report_run_status(dev), 180)
            assert _report_run_status(dev) == "SUCCESS"
            drawn, shown, page_info = ui.report(dev.home / "report" / "stream-report.html")
            detections = len(state_snapshot(dev.database_url)["detection"])
            assert drawn == 4, "every plot renders offline"
            assert shown == min(50, detections), "the table's first page"
            assert f"({detections} detections)" in page_info, page_info
        for name in ("asset-graph", "pattern-state-partitions", "sensor", "report"):
            assert (screenshot_dir(ARTIFACTS) / f"{name}.png").stat().st_size > 10_000, name


def _report_run_status(dev: DevStack) -> str | None:
    finished = {"SUCCESS", "FAILURE", "CANCELED"}
    for run in dev.ui.runs():
        if "stream_report" in run.asset_selection and run.status in finished:
            return run.status
    return None


def _pid_of_run_worker(dev: DevStack, run_id: str) -> int | None:
    for message in dev.ui.run_messages(run_id):
        found = re.search(r"Executing steps in process \(pid: (\d+)\)", message)
        if found:
            return int(found.group(1))
    return None


def _started_y_worker(dev: DevStack) -> tuple[str, int] | None:
    """A Y run in progress and the pid of its worker process, once it has one."""
    for run in _runs(dev, "mechanism_y_job"):
        if run.status == "STARTED" and (pid := _pid_of_run_worker(dev, run.run_id)):
            return run.run_id, pid
    return None


def _terminate_x_once_it_staged_a_chunk(dev: DevStack) -> None:
    """Mechanism X launched slowly and terminated from the UI: its run is canceled, its
    worker gone. The X launched next resumes where it stopped: the state and files the
    backfills then compare with `run`'s would differ by a lost or repeated chunk."""
    run_id = dev.ui.launch_job(
        "mechanism_x_job", {"ops": {"produce_chunks": {"config": {"interval_seconds": 1}}}}
    )
    dev.ui.wait_for("X's first chunk", lambda: dev.status()[0] >= 1, 300, every_s=0.3)
    (worker,) = [r for r in dev.ui.runs() if r.run_id == run_id]
    pid = int(worker.tags[WORKER_TAG].split()[0])
    dev.ui.terminate(run_id)
    status = dev.ui.wait_for(
        "the terminated X run",
        lambda: next(
            (r.status for r in dev.ui.runs() if r.run_id == run_id and r.status in FINISHED),
            None,
        ),
        120,
    )
    assert status == "CANCELED", "\n".join(
        m for m in dev.ui.run_messages(run_id) if "Materialized" not in m
    )
    dev.ui.wait_for("its worker to exit", lambda: not psutil.pid_exists(pid), 60)
    assert dev.status()[0] < 12, "terminated before X had staged every chunk"


def test_a_backfill_over_all_partitions_twice_leaves_identical_state_and_files(
    files, expected_rows, tmp_path
):
    with dev_stack(tmp_path / "home", files) as dev:
        _terminate_x_once_it_staged_a_chunk(dev)
        producer = dev.ui.launch_job(
            "mechanism_x_job", {"ops": {"produce_chunks": {"config": {"interval_seconds": 0}}}}
        )
        weights = dev.ui.launch_job("customer_weights_job")
        for run_id in (producer, weights):
            dev.ui.wait_for(
                f"run {run_id}",
                lambda run_id=run_id: next(
                    (
                        r.status
                        for r in dev.ui.runs()
                        if r.run_id == run_id and r.status in {"SUCCESS", "FAILURE"}
                    ),
                    None,
                ),
                300,
            )
        keys = [f"{i:06d}" for i in range(12)]

        def backfill() -> tuple[str, float]:
            """A backfill over every partition, as the UI launches it, until its run is done."""
            started = time.monotonic()
            backfill_id = dev.ui.backfill(CHUNK_ASSETS, keys)

            def run_of_backfill() -> str | None:
                for run in dev.ui.runs():
                    if run.tags.get("dagster/backfill") == backfill_id and run.status in {
                        "SUCCESS",
                        "FAILURE",
                        "CANCELED",
                    }:
                        return run.status
                return None

            # Its run, checks included (chunk_accepted over the range), must succeed: a backfill
            # whose run failed is still "COMPLETED" for the daemon.
            outcome = dev.ui.wait_for(f"the run of {backfill_id}", run_of_backfill, 420)
            assert outcome == "SUCCESS", [
                m
                for r in dev.ui.runs()
                if r.status == "FAILURE"
                for m in dev.ui.run_messages(r.run_id)
            ][-20:]
            return backfill_id, time.monotonic() - started

        def closed(backfill_id: str) -> str:
            """The backfill's status once the backfill daemon closed it (its loop: 30 s)."""
            return dev.ui.wait_for(
                f"backfill {backfill_id}",
                lambda: (
                    (s := dev.ui.backfill_status(backfill_id))
                    not in {"REQUESTED", "CANCELING", "FAILING"}
                    and s
                ),
                420,
            )

        first_id, first = backfill()
        before = state_snapshot(dev.database_url)
        files_before = {p.name: p.read_bytes() for p in (dev.home / "blob/detections").iterdir()}
        # The daemon's bookkeeping of the first backfill goes on while the second one runs.
        _, second = backfill()
        print(f"backfill of 12 partitions: {first:.1f}s; again, all applied: {second:.1f}s")
        assert state_snapshot(dev.database_url) == before
        assert {
            p.name: p.read_bytes() for p in (dev.home / "blob/detections").iterdir()
        } == files_before
        # Closed by the daemon's loop that launched the second one's run (the second's own
        # closing, one loop later, would show nothing new).
        assert closed(first_id) in {"COMPLETED", "COMPLETED_SUCCESS"}
        assert detection_rows(dev.home / "blob") == expected_rows
