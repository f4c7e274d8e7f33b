"""The Spark that parses and aggregates chunks: classic local, or Spark Connect (local/Databricks)."""

import dagster as dg
from pyspark.sql import SparkSession

from txn_assets.lib.spark_session import build_spark_session


class SparkResource(dg.ConfigurableResource):
    """remote empty: a classic in-process session; sc://... : Spark Connect (no JVM start per run)."""

    remote: str = ""
    master: str = "local[2]"

    def session(self) -> SparkSession:
        """The process's session, created on first use and then reused for every chunk."""
        return build_spark_session(self.remote or None, self.master)
