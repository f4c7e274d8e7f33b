"""A class-data-sharing archive of Spark's JVM classes: a Spark JVM starts in ~4 s instead of ~10 s.

Most of a Spark driver's start-up is loading and verifying some ten thousand classes. The JVM
can map them from an archive instead (AppCDS, JDK 13+). `make setup` builds the archive once per
virtual environment (`txn-assets spark-archive`): a JVM that starts Spark and parses a tiny chunk
and reference file records the classes it loaded when it exits. Every Spark JVM the project
starts (classic driver, Spark Connect server) then maps it; a missing or stale archive (another
JDK, another pyspark) is ignored silently by the JVM (`-Xshare:auto`), so it only ever saves time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

# The JVM's own CDS messages (hundreds of "Skipping ... Signed JAR" lines while dumping).
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
# Set for the JVM that records the archive: it must not map an older one as its base.
_RECORDING = "TXN_SPARK_CDS_RECORDING"


@cache
def _java_version() -> str:
    """The JDK's version, as `java -version` prints it (an archive is only valid for one JDK)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else "java"
    try:
        found = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (found.stderr.strip().splitlines() or ["unknown"])[0]
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in first)


def archive_path() -> Path:
    """Where this environment's archive lives, named after the pyspark and JDK it was built with."""
    import pyspark

    name = f"spark-{pyspark.__version__}-{_java_version()}.jsa"
    return Path(sys.prefix) / "share" / "txn-assets" / name


def jvm_options() -> str:
    """JVM options that map the archive when it exists (nothing otherwise)."""
    path = archive_path()
    if os.environ.get(_RECORDING) or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path} -Xshare:auto {_QUIET}"


def build_archive() -> Path:
    """Build the archive in a child JVM (written when it exits), then move it into place."""
    target = archive_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target, so that the final rename never crosses file systems.
    with tempfile.TemporaryDirectory(prefix="txn-cds-", dir=target.parent) as scratch:
        partial = Path(scratch) / "spark.jsa"
        subprocess.run(
            [sys.executable, "-m", "txn_assets.lib.spark_cds", str(partial), scratch],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, _RECORDING: "1"},
            timeout=600,
        )
        if not partial.is_file():
            raise RuntimeError("the JVM exited without writing its class archive")
        os.replace(partial, target)  # atomic: a concurrent reader sees no archive or a whole one
    return target


def _record(archive: str, scratch: str) -> None:
    """The child: start Spark with the dump option and exercise the parsing plans once."""
    from txn_assets.lib.spark_session import build_spark_session
    from txn_assets.lib.spark_warmup import warm_up

    session = build_spark_session(
        log_file=os.path.join(scratch, "spark.log"),
        java_options=f"-XX:ArchiveClassesAtExit={archive} {_QUIET}",
    )
    warm_up(session, Path(scratch))
    session.stop()
    # The JVM writes the archive as it exits, which it does when its stdin closes: wait for it,
    # so that the parent finds the whole file once this process has exited.
    from pyspark import SparkContext

    jvm = SparkContext._gateway.proc  # type: ignore[union-attr]
    jvm.stdin.close()
    jvm.wait(timeout=300)


if __name__ == "__main__":
    _record(sys.argv[1], sys.argv[2])
