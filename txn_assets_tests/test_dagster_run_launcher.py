"""The fork-server run launcher runs real Dagster runs from a real code server: forked from a
process holding the preloaded modules, watched by run monitoring, terminated from the UI."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import psutil
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget

from txn_assets.dagster_run_launcher import WORKER_TAG, ForkServerRunLauncher
from txn_assets.stack import PROJECT_ROOT, database_url_for
from txn_assets_tests.launcher_jobs import PRELOAD_MARKER, probe_job

LOCATION = "launcher_jobs"
_T = TypeVar("_T")
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    launcher = {
        "module": "txn_assets.dagster_run_launcher",
        "class": "ForkServerRunLauncher",
        "config": {"preload_modules": ["dagster", PRELOAD_MARKER]},
    }
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as test_instance:
        yield test_instance


@pytest.fixture(scope="module")
def workspace(instance) -> Iterator[BaseWorkspaceRequestContext]:
    target = ModuleTarget(
        module_name="txn_assets_tests.launcher_jobs",
        attribute=None,
        working_directory=str(PROJECT_ROOT),
        location_name=LOCATION,
    )
    with WorkspaceProcessContext(instance, target) as context:
        yield context.create_request_context()


def _launch(
    instance: dg.DagsterInstance, workspace: BaseWorkspaceRequestContext, folder: Path
) -> dg.DagsterRun:
    remote_job = (
        workspace.get_code_location(LOCATION)
        .get_repository("__repository__")
        .get_full_job("probe_job")
    )
    config = {"report": str(folder / "report.json"), "release": str(folder / "release")}
    run = instance.create_run_for_job(
        probe_job,
        run_config={"ops": {"report_and_wait": {"config": config}}},
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    return instance.launch_run(run.run_id, workspace)


def _wait(what: str, probe: Callable[[], _T | None], timeout_s: float = 120) -> _T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := probe()) is not None and found is not False:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"no {what} within {timeout_s:.0f}s")


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def _report(folder: Path) -> dict[str, Any] | None:
    path = folder / "report.json"
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else None


def test_the_projects_dagster_yaml_launches_runs_with_the_fork_server(database_url, monkeypatch):
    database = database_url.rsplit("/", 1)[1].split("?")[0]
    url = database_url_for(database_url, database, "postgresql+psycopg2")
    monkeypatch.setenv("TXN_DAGSTER_PG_URL", url)
    with dg.DagsterInstance.from_config(str(PROJECT_ROOT)) as configured:
        assert isinstance(configured.run_launcher, ForkServerRunLauncher)


def test_a_run_is_forked_from_the_preloaded_fork_server_and_succeeds(instance, workspace, tmp_path):
    run = _launch(instance, workspace, tmp_path)
    report = _wait("report from the run", lambda: _report(tmp_path))
    parent = psutil.Process(report["ppid"])
    assert "multiprocessing.forkserver" in " ".join(parent.cmdline()), parent.cmdline()
    assert report["preloaded"], "the worker has the fork server's preloaded modules"
    assert instance.get_run_by_id(run.run_id).tags[WORKER_TAG].split()[0] == str(report["pid"])
    assert (
        instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id)).status
        == WorkerStatus.RUNNING
    )
    (tmp_path / "release").touch()
    finished = _wait("the run's end", lambda: _status(instance, run.run_id) in FINISHED or None)
    assert finished and _status(instance, run.run_id) == dg.DagsterRunStatus.SUCCESS


def test_run_monitoring_sees_a_killed_worker_as_failed(instance, workspace, tmp_path):
    run = _launch(instance, workspace, tmp_path)
    report = _wait("report from the run", lambda: _report(tmp_path))
    os.kill(report["pid"], signal.SIGKILL)

    def health() -> WorkerStatus | None:
        status = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
        return status.status if status.status != WorkerStatus.RUNNING else None

    assert _wait("the killed worker's health", health, 30) == WorkerStatus.FAILED


def test_terminating_a_run_cancels_it_in_its_worker(instance, workspace, tmp_path):
    run = _launch(instance, workspace, tmp_path)
    _wait("report from the run", lambda: _report(tmp_path))
    assert instance.run_launcher.terminate(run.run_id)
    _wait("the run's end", lambda: _status(instance, run.run_id) in FINISHED or None)
    assert _status(instance, run.run_id) == dg.DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(run.run_id), "a finished run has no worker"
