"""How the Dagster layer reports failures that would repeat on every retry."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from txn_assets.lib.csv_header import HeaderError
from txn_assets.lib.producer import ChunkNotStagedError
from txn_assets.lib.sources.base import SourceChangedError
from txn_assets.lib.state.errors import StreamError
from txn_assets.lib.state.migrate import SchemaNotCurrentError

# Errors about the stream's inputs or order: retrying cannot help, so they fail at once with
# their message (RetryPolicy retries only the rest: database blips, lost Spark sessions).
FINAL_ERRORS = (
    StreamError,
    ChunkNotStagedError,
    SourceChangedError,
    SchemaNotCurrentError,
    HeaderError,
)


@contextmanager
def final_errors_fail_without_retry(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
) -> Iterator[None]:
    """Turn a final error into a dg.Failure that names the problem and skips op retries.

    Terminating the run is final too: Dagster retries an interrupted op that has a RetryPolicy
    (meant for preempted workers), which would carry on a producer the user stopped. While the
    run is being canceled, an interrupt fails the step without retry and Dagster marks the run
    canceled; any other interrupt (a worker shut down) is still retried.
    """
    try:
        yield
    except FINAL_ERRORS as err:
        raise dg.Failure(description=f"{type(err).__name__}: {err}", allow_retries=False) from err
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt) as interrupt:
        run = context.instance.get_run_by_id(context.run_id)
        if run is None or run.status != dg.DagsterRunStatus.CANCELING:
            raise
        raise dg.Failure(
            description="the run was terminated: stopping", allow_retries=False
        ) from interrupt
