"""Run workers forked from a process that has already imported Dagster and the libraries.

Dagster's default launcher asks the code server to start each run in a new Python interpreter,
which imports Dagster, dagster-postgres, PySpark and the rest before the run's first event:
~4 s of a Mechanism Y run here, more than its work on a small chunk range. This launcher keeps
one `multiprocessing` fork server per daemon with those libraries imported (`preload_modules`
in dagster.yaml) and forks each run worker from it, so a run only imports this project's own
modules (~0.4 s); the worker then does what `dagster api execute_run` does, in-process.

The project's modules are not preloaded on purpose: a worker imports the code as it is on disk
when the run starts, so an edited asset takes effect on the next run, as with the default
launcher. Each worker's pid (and start time, against pid reuse) is a tag of its run, which is
how a run is terminated from the UI and how run monitoring sees a worker that died
(`check_run_worker_health`): the run is failed, and retried.

Workers run in the daemon's environment, on its machine: the code location must be loaded from
the same Python environment (a `python_module` location, as `dagster dev` runs it). This
builds on Dagster's launcher interfaces (`dagster._core.launcher`, `dagster api
execute_run`), which integrations such as dagster-docker use too; dagster is pinned exactly.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import Field
from dagster import _check as check
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

# "<pid> <start time>" of the process running the run, set as the run starts.
WORKER_TAG = "txn-assets/run-worker"


def execute_run_in_worker(serialized_args: str) -> None:
    """The forked worker's body: `dagster api execute_run` without starting an interpreter."""
    from dagster._cli.api import execute_run_command

    run_command = check.not_none(execute_run_command.callback)
    run_command(input_json=serialized_args, compressed_input_json=None)


def _state_and_start(pid: int) -> tuple[str, str]:
    """A process's state letter and its start in clock ticks since boot (/proc/<pid>/stat).

    The start is not a wall-clock time: a stepped clock (NTP, a resumed VM) would make a live
    worker look like another process.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], fields[19]  # fields 3 and 22 of stat(5)


def worker_tag_value(pid: int) -> str:
    """The pid and start time naming one process: a reused pid has another start time."""
    return f"{pid} {_state_and_start(pid)[1]}"


def worker_is_alive(tag_value: str) -> bool:
    """Whether the process a run's worker tag names still runs (a zombie has exited)."""
    pid_text, started = tag_value.split()
    try:
        state, start = _state_and_start(int(pid_text))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and start == started


class ForkServerRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a worker forked from a fork server with `preload_modules` imported."""

    def __init__(
        self,
        preload_modules: Sequence[str] = (),
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        self._inst_data = inst_data
        self._preload_modules = list(preload_modules)
        self._context = multiprocessing.get_context("forkserver")
        self._started = threading.Lock()
        # Workers this process started, by run id; joined once they have exited.
        self._workers: dict[str, multiprocessing.process.BaseProcess] = {}
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"preload_modules": Field([str], is_required=False, default_value=[])}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> ForkServerRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def _ensure_fork_server(self) -> None:
        """Start the fork server once; it imports `preload_modules` before serving.

        Dagster creates a run launcher when it first launches a run, so that first run waits
        for the imports, as it would have in a new interpreter; every later run is forked.
        """
        with self._started:
            self._context.set_forkserver_preload(self._preload_modules)
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = check.not_none(context.job_code_origin, "a run needs its job's code origin")
        executable = origin.repository_origin.executable_path
        if executable and Path(executable).parent.parent.resolve() != Path(sys.prefix).resolve():
            raise DagsterLaunchFailedError(
                f"{type(self).__name__} forks run workers from the daemon's Python "
                f"({sys.prefix}); the code location runs {executable}: use the same environment "
                "or Dagster's DefaultRunLauncher"
            )
        args = ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref()
        )
        self._ensure_fork_server()
        self._join_exited_workers()
        worker = self._context.Process(
            target=execute_run_in_worker,
            args=(serialize_value(args),),
            name=f"dagster-run-{run.run_id}",
        )
        worker.start()
        # multiprocessing joins its children when this process exits: a daemon stopping
        # would wait for every run (Mechanism X runs for the whole stream). Runs outlive the
        # daemon, as they outlive it under Dagster's default launcher; joined below instead.
        multiprocessing.process._children.discard(worker)  # type: ignore[attr-defined]
        pid = check.not_none(worker.pid)
        self._workers[run.run_id] = worker
        try:
            self._instance.add_run_tags(run.run_id, {WORKER_TAG: worker_tag_value(pid)})
        except BaseException:  # no tag: nothing could monitor or terminate this worker
            worker.kill()
            raise
        self._instance.report_engine_event(
            f"Forked the run worker (pid: {pid}) from the fork server.", run, cls=type(self)
        )

    def _join_exited_workers(self) -> None:
        """Forget the workers that exited (the fork server reaps them; this closes our end)."""
        for run_id, worker in list(self._workers.items()):
            if not worker.is_alive():
                worker.join()
                del self._workers[run_id]

    def terminate(self, run_id: str) -> bool:
        """Interrupts the worker (SIGTERM, which Dagster's run worker handles as a cancel).

        The webserver calls this: it must see the daemon's processes (one machine, as
        `dagster dev` runs them).
        """
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        tag_value = run.tags.get(WORKER_TAG)
        if tag_value is None or not worker_is_alive(tag_value):
            self._instance.report_engine_event("No run worker to interrupt.", run, cls=type(self))
            return False
        try:
            os.kill(int(tag_value.split()[0]), signal.SIGTERM)
        except ProcessLookupError:  # exited since the check
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # The tag is written as the worker is forked, before it can start the run; a run
        # record read just before that is read again.
        tag_value = run.tags.get(WORKER_TAG) or self._tags_now(run.run_id).get(WORKER_TAG)
        if tag_value is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no run worker recorded")
        if worker_is_alive(tag_value):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run worker (pid {tag_value.split()[0]}) has exited"
        )

    def _tags_now(self, run_id: str) -> Mapping[str, str]:
        run = self._instance.get_run_by_id(run_id)
        return run.tags if run else {}
