"""Headless Chromium (Debian's `chromium` package) driven by Playwright, for the UI tests.

Nothing downloads a browser build: Playwright only drives the system's Chromium. Without it the
UI tests are skipped with the package to install; in CI (`TXN_REQUIRE_BROWSER=1`, set by
`.ci/run`, which installs the package) a missing browser fails the build instead.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# What the machine's closed network needs: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}


def chromium_executable() -> str:
    """The system Chromium, or a skip (a failure where the browser is required)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "no Chromium: install Debian's `chromium` package (apt-get install chromium)"
    if os.environ.get("TXN_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: TXN_SCREENSHOT_DIR (`make screenshots`), else the test's folder."""
    folder = Path(os.environ.get("TXN_SCREENSHOT_DIR") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def browser_page() -> Iterator[Any]:
    """A fresh page in a fresh headless Chromium (empty profile, as a newcomer's browser)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


class BrowserUI:
    """The Dagster UI's pages as a newcomer uses them: dismiss the welcome, expand, click."""

    def __init__(self, page: Any, base_url: str, screenshots: Path) -> None:
        self.page, self.base_url, self.screenshots = page, base_url, screenshots

    def open(self, path: str) -> None:
        """Open a page; the first page of an instance is covered by a 'Join the community' dialog."""
        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        skip = self.page.get_by_role("button", name="Skip")
        if skip.count() and skip.first.is_visible():
            skip.first.click()
            skip.first.wait_for(state="hidden")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.screenshots / f"{name}.png"))

    def asset_graph(self, names: set[str]) -> set[str]:
        """The global lineage with every group expanded (double-click, as a user does): which of
        `names` it shows."""
        self.open("/asset-groups")
        groups = ("source", "ingestion", "detection", "report")
        for group in groups:
            node = self.page.get_by_text(group, exact=True)
            if node.count() > 1:  # the sidebar's entry, then the graph's collapsed group node
                node.last.dblclick()
                self.page.wait_for_timeout(500)
        self.shot("asset-graph")
        return {
            name for name in names if self.page.get_by_text(name, exact=True).first.is_visible()
        }

    def partitions(self, asset: str, first: str) -> dict[str, int]:
        """The partitions page's status counts; then one partition's metadata is opened."""
        self.open(f"/assets/{asset}?view=partitions")
        counts = {}
        for status in ("Failed", "Materialized", "Missing"):
            label = self.page.get_by_text(re.compile(rf"^{status} \(\d+\)$")).first
            counts[status] = int(re.search(r"\((\d+)\)", label.inner_text()).group(1))  # type: ignore[union-attr]
        self.page.get_by_text(first, exact=True).first.click()
        self.page.get_by_text("per_chunk").first.wait_for()
        self.shot(f"{asset.replace('_', '-')}-partitions")
        return counts

    def sensor_skip_reason(self, sensor: str) -> str:
        """The sensor page with its ticks; the latest tick's result dialog says why it skipped."""
        self.open(f"/locations/txn_assets/sensors/{sensor}")
        self.page.get_by_text("Running").first.wait_for()
        self.shot("sensor")
        self.page.locator("a,button", has_text="0 runs requested").first.click()
        reason = self.page.get_by_text("Skip reason:").first
        reason.wait_for()
        text: str = reason.locator("xpath=..").inner_text()
        self.page.get_by_role("button", name="Close").click()
        return text.removeprefix("Skip reason:").strip()
