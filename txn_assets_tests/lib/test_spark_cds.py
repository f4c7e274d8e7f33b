"""Every Spark JVM maps the class archive once it is built, and starts as before without it."""

from __future__ import annotations

from txn_assets.lib import spark_cds
from txn_assets.lib.spark_session import spark_config


def test_without_an_archive_the_driver_gets_only_its_log_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "archive_path", lambda: tmp_path / "absent.jsa")

    options = spark_config(log_file=str(tmp_path / "spark.log"))["spark.driver.extraJavaOptions"]

    assert "SharedArchiveFile" not in options
    assert f"-Dtxn.spark.log={tmp_path / 'spark.log'}" in options


def test_a_built_archive_is_mapped_and_never_required(tmp_path, monkeypatch):
    archive = tmp_path / "spark.jsa"
    archive.write_bytes(b"archive")
    monkeypatch.setattr(spark_cds, "archive_path", lambda: archive)

    options = spark_config(log_file=str(tmp_path / "spark.log"))["spark.driver.extraJavaOptions"]

    assert f"-XX:SharedArchiveFile={archive}" in options
    assert "-Xshare:auto" in options  # a stale archive is ignored, not fatal


def test_spark_connect_sessions_leave_the_jvm_to_the_server(tmp_path, monkeypatch):
    archive = tmp_path / "spark.jsa"
    archive.write_bytes(b"archive")
    monkeypatch.setattr(spark_cds, "archive_path", lambda: archive)

    assert "spark.driver.extraJavaOptions" not in spark_config(remote="sc://127.0.0.1:1")
