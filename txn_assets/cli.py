"""`txn-assets`: a thin front door over the library and the Dagster definitions."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

from txn_assets.dagster_ui import DAGSTER_UI_LINE
from txn_assets.lib import settings

DEFAULT_HOME = Path(".state")


def _generate(args: argparse.Namespace) -> int:
    from txn_assets.lib.generate import generate

    files = generate(Path(args.out), rows=args.rows, seed=args.seed)
    print(f"wrote {files.rows} rows to {files.transactions} and {files.importance}")
    return 0


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from txn_assets.stack import StackSettings

    if bool(args.transactions) != bool(args.importance):
        raise SystemExit("give both --transactions and --importance, or neither (generated data)")
    return StackSettings(
        home=Path(args.home),
        transactions=Path(args.transactions) if args.transactions else None,
        importance=Path(args.importance) if args.importance else None,
        chunk_rows=args.chunk_rows,
        store=args.store,
        source=args.source,
    )


def _progress(database_url: str, started: float):  # type: ignore[no-untyped-def]
    """The console's view of the stream: each status change with the figures read beside it."""
    import psycopg

    from txn_assets.console import Snapshot, stream_display
    from txn_assets.lib.kept_connection import KeptConnection
    from txn_assets.lib.stream_status import StreamStatus
    from txn_assets.lib.stream_summary import ProgressFigures, read_progress

    display = stream_display(sys.stdout)
    figures = KeptConnection(database_url)
    last: list[ProgressFigures] = []

    def show(status: StreamStatus) -> None:
        try:  # a database restart mid-stream must not stop the stream for a display's sake
            last[:] = [figures.read(read_progress)]
        except psycopg.OperationalError:
            if not last:
                return
        display.show(Snapshot(status, last[0], time.monotonic() - started))

    return display, show, figures


def _ready_line() -> str:
    """When the stream became ready, counted from this process's start (the benchmark reads it)."""
    import psutil

    from txn_assets.console import READY_PREFIX

    seconds = time.time() - psutil.Process().create_time()
    return f"{READY_PREFIX}{seconds:.2f}s: Mechanism X starts"


def _run(args: argparse.Namespace) -> int:
    from txn_assets.spark_modes import spark_for, warm_spark_early
    from txn_assets.stack import ENVIRONMENT_FREE_IMPORTS, import_in_background, local_stack

    started = time.monotonic()
    settings = _settings(args)

    # Once the home is ours, the JVM (in process; a cluster's driver once the cluster is up)
    # and Dagster's imports start while PostgreSQL does; the definitions wait for the settings.
    # At full speed X does not wait for the warm-up: its first chunks warm Spark up themselves,
    # and full-size warm-up chunks would only compete with them.
    full_size_chunks = 0 if args.interval == 0 else None

    def once_locked() -> None:
        if args.spark == "local":
            warm_spark_early(Path(args.home), full_size_chunks=full_size_chunks)
        import_in_background(*ENVIRONMENT_FREE_IMPORTS)

    with (
        local_stack(settings, "run", once_locked=once_locked) as stack,
        spark_for(args.spark, stack, via_connect=False),
    ):
        if args.spark != "local":
            warm_spark_early(
                stack.home, connect_server_is_ours=True, full_size_chunks=full_size_chunks
            )
        from txn_assets.runner import run_checks, run_stream

        env = stack.env
        display, show, figures = _progress(env["TXN_DATABASE_URL"], started)
        try:
            final = run_stream(
                args.interval,
                on_status=show,
                supervisor=stack.supervisor,
                on_ready=lambda: display.note(_ready_line()),
            )
        finally:
            display.close()
            figures.close()
        from txn_assets.console import DONE_PREFIX

        elapsed = time.monotonic() - started
        print()
        print(
            f"{DONE_PREFIX}{elapsed:.1f}s: {final.applied} chunks applied, {final.detections} detections "
            f"in {final.files} files"
        )
        import psycopg

        from txn_assets.lib.stream_summary import read_summary

        with psycopg.connect(env["TXN_DATABASE_URL"]) as conn:
            print("\n".join(read_summary(conn, final.files).lines(elapsed)))
        print("checks: all passed" if run_checks() else "checks: see the failures above")
        import dagster as dg

        from txn_assets.defs.report.assets import materialize_stream_report

        print(f"report: {materialize_stream_report()}")

        from txn_assets.definitions import defs

        with dg.build_resources({"stores": (defs.resources or {})["stores"]}) as built:
            stores = built.stores
            print(f"detection files: {stores.output().uri(stores.output_prefix)}/*.csv")
        print(
            f"Dagster history: DAGSTER_HOME={env['DAGSTER_HOME']} (see it with `txn-assets dev --home {args.home}`)"
        )
    return 0


def _report(args: argparse.Namespace) -> int:
    """Write the stream report of a home (its embedded PostgreSQL, or DATABASE_URL)."""
    import psycopg

    from txn_assets.lib.report import REPORT_FILE_NAME, write_report
    from txn_assets.stack import StackSettings, local_stack

    home = Path(args.home)
    if not os.environ.get("DATABASE_URL") and not (home / "postgres").is_dir():
        raise SystemExit(f"{home} holds no stream yet: run `txn-assets run --home {home}` first")
    folder = Path(os.environ.get("TXN_REPORT_DIR") or home / "report")
    out = Path(args.out) if args.out else folder / REPORT_FILE_NAME
    with (
        local_stack(StackSettings(home=home, source="none"), "report") as stack,
        psycopg.connect(stack.env["TXN_DATABASE_URL"]) as conn,
    ):
        path = write_report(conn, out)
    print(f"report: {path.resolve()}")
    return 0


def _spark_archive(args: argparse.Namespace) -> int:
    """Build the class archive every Spark JVM of this environment maps (see spark_cds)."""
    from txn_assets.lib.spark_cds import build_archive

    started = time.monotonic()
    path = build_archive()
    print(f"Spark class archive: {path} ({time.monotonic() - started:.0f}s)")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Bring the state database of TXN_DATABASE_URL (or --database-url) to the newest schema."""
    from txn_assets.lib.state.migrate import migrate

    url = args.database_url or os.environ.get("TXN_DATABASE_URL")
    if not url:
        raise SystemExit("give --database-url or set TXN_DATABASE_URL")
    applied = migrate(url)
    print(f"applied {len(applied)} migrations: {applied}" if applied else "schema is current")
    return 0


def _produce(args: argparse.Namespace) -> int:
    """Mechanism X alone, as its Dagster job (the environment comes from `run` or `dev`)."""
    import dagster as dg

    from txn_assets.definitions import defs

    job = defs.resolve_job_def("mechanism_x_job")
    config = {
        "ops": {
            "produce_chunks": {
                "config": {"interval_seconds": args.interval, "max_chunks": args.max_chunks}
            }
        },
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(), run_config=config, raise_on_error=False
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        data = failures[-1].step_failure_data if failures else None
        raise RuntimeError(data.error.message.strip() if data and data.error else "the run failed")
    return 0


def _dev(args: argparse.Namespace) -> int:
    from txn_assets.dagster_dev import start_dagster_dev
    from txn_assets.spark_modes import spark_for, warm_spark_early
    from txn_assets.stack import local_stack

    settings = _settings(args)
    with (
        local_stack(settings, "dev") as stack,
        spark_for(args.spark, stack, via_connect=True),
    ):
        if args.spark != "local":  # runs use the Spark Connect server: warm it while Dagster starts
            warm_spark_early(stack.home, connect_server_is_ours=True)
        log = stack.home / "logs" / "dagster-dev.log"
        print(f"starting Dagster's webserver and daemon (their log: {log}) ...", flush=True)
        # Its own process group, so that stopping `dev` stops the webserver, daemon and runs too.
        process, port = start_dagster_dev(stack.supervisor, args.port, log)
        try:
            print(
                f"{DAGSTER_UI_LINE}{port}  (DAGSTER_HOME={stack.env['DAGSTER_HOME']})", flush=True
            )
            return process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            stack.supervisor.stop(process)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Turn SIGTERM into an exception so that every `with`/`finally` stops what it started.
    raise SystemExit(128 + signum)


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", default=str(DEFAULT_HOME), help="all local state lives here (default .state/)"
    )
    parser.add_argument(
        "--transactions", help="transactions.csv (default: generated under HOME/source)"
    )
    parser.add_argument("--importance", help="CustomerImportance.csv")
    parser.add_argument("--chunk-rows", type=int, default=settings.CHUNK_ROWS)
    parser.add_argument(
        "--store",
        choices=["local", "azure", "azurite"],
        default="local",
        help="local folder HOME/blob, Azure Blob (AZURE_* settings), or a local Azurite",
    )
    parser.add_argument(
        "--source",
        choices=["local", "drive"],
        default="local",
        help="local files, or Google Drive (TXN_DRIVE_* and GOOGLE_SERVICE_ACCOUNT_JSON settings)",
    )


def _add_spark_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--spark",
        choices=["local", "connect", "cluster"],
        default=default,
        help="local: the environment's Spark (default classic local[2] in each process); "
        "connect: a Spark Connect server on loopback; cluster: a standalone Spark cluster "
        f"(1 master, 2 workers) on loopback (default {default})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="txn-assets", description=__doc__)
    parser.add_argument(
        "--verbose", action="store_true", help="show the traceback of a failure on the console"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate", help="write BankSim-shaped transactions.csv and CustomerImportance.csv"
    )
    gen.add_argument("--rows", type=int, default=594_643)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", required=True)
    gen.set_defaults(func=_generate)

    run = sub.add_parser(
        "run", help="run the stream end to end (X at one chunk per interval, Y keeping up)"
    )
    _add_stack_options(run)
    run.add_argument(
        "--interval",
        type=float,
        default=settings.PRODUCER_INTERVAL_SECONDS,
        help="seconds between chunks (0: as fast as possible)",
    )
    _add_spark_option(run, default="local")
    run.set_defaults(func=_run)

    dev = sub.add_parser(
        "dev", help="start the embedded services and `dagster dev` on the same home"
    )
    _add_stack_options(dev)
    dev.add_argument(
        "--port", type=int, default=3000, help="the UI's port on 127.0.0.1 (0: any free port)"
    )
    _add_spark_option(dev, default="connect")
    dev.add_argument(
        "--classic-spark",
        dest="spark",
        action="store_const",
        const="local",
        help="= --spark local: no Spark Connect, each run starts its own Spark",
    )
    dev.set_defaults(func=_dev)

    mig = sub.add_parser("migrate", help="apply the state database's schema migrations")
    mig.add_argument("--database-url", help="default: TXN_DATABASE_URL")
    mig.set_defaults(func=_migrate)

    report = sub.add_parser(
        "report", help="write the stream report: one HTML file with plots and every detection"
    )
    report.add_argument(
        "--home", default=str(DEFAULT_HOME), help="all local state lives here (default .state/)"
    )
    report.add_argument("--out", help="the HTML file (default HOME/report/stream-report.html)")
    report.set_defaults(func=_report)

    archive = sub.add_parser(
        "spark-archive", help="build the JVM class archive that halves Spark's start-up (setup)"
    )
    archive.set_defaults(func=_spark_archive)

    produce = sub.add_parser(
        "produce", help="Mechanism X only (used by `run`; needs the stack's environment)"
    )
    produce.add_argument("--interval", type=float, default=settings.PRODUCER_INTERVAL_SECONDS)
    produce.add_argument("--max-chunks", type=int, default=0)
    produce.set_defaults(func=_produce)
    return parser


def _error_log(args: argparse.Namespace) -> Path:
    home = Path(getattr(args, "home", None) or os.environ.get("TXN_HOME") or DEFAULT_HOME)
    return home.resolve() / "logs" / "txn-assets.log"


def _warnings_to(log: Path) -> None:
    """Send Python warnings (Dagster's beta notices, platformdirs') to the log, not the console.

    They are about our dependencies, not something a user of the command can act on.
    """

    def to_log(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: object = None,
        line: str | None = None,
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = to_log


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: a failure is one clear line (--verbose: traceback)."""
    args = build_parser().parse_args(argv)
    if not args.verbose:
        _warnings_to(_error_log(args))
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return int(args.func(args))
    except Exception as err:
        if args.verbose:
            raise
        log = _error_log(args)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} txn-assets {args.command}\n")
            handle.write("".join(traceback.format_exception(err)))
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"txn-assets {args.command}: {message} (full log: {log})", file=sys.stderr)
        return 1
    finally:
        # Also when the command failed before its Spark was up (its warm-up already started).
        if "txn_assets.spark_modes" in sys.modules:  # imported by whatever started a warm-up
            from txn_assets.spark_modes import end_warm_ups

            end_warm_ups()


if __name__ == "__main__":
    sys.exit(main())
