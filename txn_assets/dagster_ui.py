"""A small client of the Dagster webserver's GraphQL API: what the UI's buttons call.

Tests and the benchmark drive `txn-assets dev` through it the way a user drives the UI (switch
the sensor on, launch a job, launch a backfill, terminate a run) and read runs and ticks back.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What `txn-assets dev` prints once its UI serves, followed by the port.
DAGSTER_UI_LINE = "Dagster UI: http://127.0.0.1:"


def port_from_console(text: str) -> int | None:
    """The UI's port in `txn-assets dev`'s console output, once it printed it."""
    found = re.search(re.escape(DAGSTER_UI_LINE) + r"(\d+)", text)
    return int(found.group(1)) if found else None


def wait_for_dev_ui(process: subprocess.Popen[bytes], console: Path, timeout_s: float = 300) -> int:
    """The UI's port, once the `txn-assets dev` writing `console` says it serves.

    `dev` checks that its own webserver holds the port before it prints the URL.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        port = port_from_console(console.read_text(errors="replace"))
        if port is not None:
            return port
        if process.poll() is not None:
            raise RuntimeError(f"txn-assets dev exited before its UI served (console: {console})")
        time.sleep(0.5)
    raise TimeoutError(
        f"txn-assets dev's UI did not serve within {timeout_s:.0f}s (console: {console})"
    )


LOCATION = {"repositoryLocationName": "txn_assets", "repositoryName": "__repository__"}

START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
STOP_SENSOR = """
mutation Stop($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
SENSOR = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        id selectorId status
        ticks(limit: 20) { status skipReason runIds error { message } }
      }
    }
  }
}
"""
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
  }
}
"""
TERMINATE_RUN = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunSuccess { run { runId } }
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""
LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
  }
}
"""
BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status runs(limit: 50) { runId status } }
  }
}
"""
RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter, limit: 200) {
    __typename
    ... on Runs {
      results { runId jobName status tags { key value } startTime endTime assetSelection { path } }
    }
  }
}
"""
RUN_LOGS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId, limit: 1000) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message stepKey } } }
  }
}
"""


@dataclass(frozen=True)
class Run:
    """A run as the Runs page shows it."""

    run_id: str
    job_name: str
    status: str
    tags: dict[str, str]
    start_time: float | None
    end_time: float | None
    asset_selection: list[str] = field(default_factory=list)


class DagsterUI:
    """The webserver at 127.0.0.1:port, spoken to as the UI speaks to it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.url = f"{self.base_url}/graphql"

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def _sensor_selector(self, name: str) -> dict[str, str]:
        return {**LOCATION, "sensorName": name}

    def start_sensor(self, name: str = "new_chunk_sensor") -> None:
        data = self.query(START_SENSOR, {"selector": self._sensor_selector(name)})
        result = data["startSensor"]
        assert result["__typename"] == "Sensor", result
        assert result["sensorState"]["status"] == "RUNNING", result

    def stop_sensor(self, name: str = "new_chunk_sensor") -> None:
        state = self.sensor(name)["sensorState"]
        result = self.query(STOP_SENSOR, {"id": state["id"]})["stopSensor"]
        assert result["__typename"] == "StopSensorMutationResult", result

    def sensor(self, name: str = "new_chunk_sensor") -> dict[str, Any]:
        data = self.query(SENSOR, {"selector": self._sensor_selector(name)})
        return data["sensorOrError"]

    def sensor_ticks(self, name: str = "new_chunk_sensor") -> list[dict[str, Any]]:
        return self.sensor(name)["sensorState"]["ticks"]

    def launch_job(self, job: str, run_config: dict[str, Any] | None = None) -> str:
        params = {"selector": {**LOCATION, "jobName": job}, "runConfigData": run_config or {}}
        result = self.query(LAUNCH_RUN, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])

    def terminate(self, run_id: str) -> None:
        result = self.query(TERMINATE_RUN, {"runId": run_id})["terminateRun"]
        assert result["__typename"] == "TerminateRunSuccess", result

    def backfill(self, assets: list[str], partitions: list[str]) -> str:
        params = {
            "partitionNames": partitions,
            "assetSelection": [{"path": [a]} for a in assets],
        }
        result = self.query(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return str(result["backfillId"])

    def backfill_status(self, backfill_id: str) -> str:
        data = self.query(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        return str(data["status"])

    def runs(self, job_name: str | None = None) -> list[Run]:
        run_filter = {"pipelineName": job_name} if job_name else {}
        data = self.query(RUNS, {"filter": run_filter})["runsOrError"]
        return [
            Run(
                r["runId"],
                r["jobName"],
                r["status"],
                {t["key"]: t["value"] for t in r["tags"]},
                r["startTime"],
                r["endTime"],
                ["/".join(key["path"]) for key in r.get("assetSelection") or []],
            )
            for r in data["results"]
        ]

    def run_messages(self, run_id: str) -> list[str]:
        """The messages of a run's event log, in order (what the run page lists)."""
        data = self.query(RUN_LOGS, {"runId": run_id})["logsForRun"]
        return [e.get("message") or "" for e in data.get("events", [])]

    def wait_for(self, what: str, predicate: Any, timeout_s: float, every_s: float = 1.0) -> Any:
        """Poll predicate() until it returns something truthy; fail naming what was awaited."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(every_s)
        raise TimeoutError(f"gave up after {timeout_s:.0f}s waiting for {what}")
