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
def final_errors_fail_without_retry() -> Iterator[None]:
    """Turn a final error into a dg.Failure that names the problem and skips op retries.

    A terminated run is final too: Dagster retries an interrupted op that has a RetryPolicy
    (meant for preempted workers), which would carry on a producer the user stopped. As a
    failure without retry, the step ends and Dagster marks the terminating run canceled.
    """
    try:
        yield
    except FINAL_ERRORS as err:
        raise dg.Failure(description=f"{type(err).__name__}: {err}", allow_retries=False) from err
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt) as interrupt:
        raise dg.Failure(
            description="the run was interrupted (terminated): stopping", allow_retries=False
        ) from interrupt
