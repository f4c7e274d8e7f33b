"""The session's settings that are about speed, not results: they are checked where they apply."""

import sys

import pytest
from pyspark.errors.utils import is_debugging_enabled

from txn_assets.lib.spark_session import SWITCH_INTERVAL_SECONDS, quick_thread_handoffs


def test_the_classic_session_records_no_python_call_sites(spark):
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"
    assert not is_debugging_enabled()  # what PySpark's DataFrame functions consult


def test_threads_that_call_spark_get_the_interpreter_back_quickly():
    default = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # Python's default
        quick_thread_handoffs()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
        sys.setswitchinterval(0.0001)  # already quicker: left alone
        quick_thread_handoffs()
        assert sys.getswitchinterval() == pytest.approx(0.0001)
    finally:
        sys.setswitchinterval(default)
