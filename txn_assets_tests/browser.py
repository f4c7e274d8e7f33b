"""Headless Chromium (Debian's `chromium` package) driven by Playwright, for the UI tests.

Nothing downloads a browser build: Playwright only drives the system's Chromium. Without it the
UI tests are skipped with the package to install, or fail in CI (see system_packages).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from txn_assets_tests.system_packages import missing_system_package

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
    missing_system_package("chromium", "no Chromium for the browser test")


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
        self._welcomed = False

    def open(self, path: str) -> None:
        """Open a page. A new instance covers its first page with a 'Join the Dagster community'
        dialog, a moment after loading; a user skips it (the instance remembers)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        skip = self.page.get_by_role("button", name="Skip")
        try:
            skip.first.wait_for(state="visible", timeout=1_000 if self._welcomed else 8_000)
        except PlaywrightTimeout:
            pass
        else:
            skip.first.click()
            skip.first.wait_for(state="hidden")
        self._welcomed = True

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.screenshots / f"{name}.png"))

    def asset_graph(self, names: set[str]) -> set[str]:
        """The global lineage, which opens with every group collapsed, after the graph menu's
        *Expand all groups* (its shortcut ⌥E): which of `names` it shows."""
        self.open("/asset-groups")
        self.page.get_by_text("Global asset lineage").first.wait_for()
        self.page.mouse.click(900, 800)  # focus the graph, as a user's first click does
        self.page.keyboard.press("Alt+e")
        self.page.wait_for_timeout(1_000)  # the layout animates into place
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

    def materialize(self, asset: str) -> None:
        """The asset page's Materialize button, as a user launches an unpartitioned asset."""
        self.open(f"/assets/{asset}")
        self.page.locator("button").filter(
            has_text=re.compile(r"^\s*Materialize\s*$")
        ).first.click()

    def report(self, path: Path) -> tuple[int, int, str]:
        """The report file opened offline: (plots drawn, detection rows shown, page info)."""
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        drawn: int = self.page.evaluate(
            "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length"
        )
        shown = self.page.locator("#detections tbody tr:visible").count()
        info: str = self.page.locator("#page-info").inner_text()
        self.shot("report")
        return drawn, shown, info
