"""Debian packages two tests need beyond the project's own setup (a browser, a TLS PostgreSQL).

A user's machine may not have them: the test is skipped with the package to install. `.ci/run`
installs them and sets TXN_REQUIRE_SYSTEM_PACKAGES=1, so that in CI a missing one fails instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_system_package(package: str, why: str) -> NoReturn:
    """Skip (or, where the packages are required, fail) naming the package to install."""
    message = f"{why}: install Debian's `{package}` package (apt-get install {package})"
    if os.environ.get("TXN_REQUIRE_SYSTEM_PACKAGES") == "1":
        pytest.fail(message)
    pytest.skip(message)
