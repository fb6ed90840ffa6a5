"""The app in a real browser: `streamlit run app.py` driven by playwright in Debian's chromium.

Skipped, with the reason, where playwright or /usr/bin/chromium is missing (CI installs both:
`pip install playwright` and `apt-get install chromium`; `playwright install` is never needed).
With FLOWSIM_UPDATE_SCREENSHOT=1 the screenshot replaces docs/screenshot.png (the README's).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowsim
from flowsim.reports.app_views import headline

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
OUTAGE = [{"node": "payments", "at": 1200.0, "for": 60.0}]  # checkout-outage with a 1-minute outage
TIMEOUT_MS = 60_000
BROKEN = """name: broken
duration: 10s
architecture:
  name: a
  nodes:
    s: {kind: source, rate: 1/s}
    api: {kind: service, servers: 0, service_time: 1s}
    done: {kind: sink}
  edges: [s -> api, api -> done]
"""

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Debian chromium at {CHROMIUM} (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, server: subprocess.Popen[bytes], seconds: float = 45.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer {url}/_stcore/health within {seconds:.0f}s")


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def screenshot_path(tmp_path: Path) -> Path:
    if os.environ.get("FLOWSIM_UPDATE_SCREENSHOT") == "1":
        return ROOT / "docs" / "screenshot.png"
    return tmp_path / "screenshot.png"


def upload_an_invalid_scenario(page: Any, tmp_path: Path) -> None:
    """An uploaded file replaces the editor's text; its problems are shown with line and field."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(broken))
    page.get_by_text("The scenario YAML has problems").wait_for()
    page.get_by_role("tab", name="Scenario YAML").click()
    page.get_by_text("Line 7, column").wait_for()
    assert page.get_by_text("architecture.nodes.api.servers: must be greater than").count() == 1


def test_a_scenario_runs_through_the_page(app_url: str, tmp_path: Path) -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "checkout-outage.yaml", {"faults": OUTAGE})
    expected = headline(flowsim.simulate(scenario, seed=scenario.seed), scenario.arch)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(app_url)
            page.get_by_text("Showing run #1 checkout-outage").wait_for()  # the default scenario, run on arrival
            outage = page.get_by_role("spinbutton", name="payments outage #1 · lasts (s)")
            outage.fill("60")
            outage.press("Tab")
            page.get_by_role("button", name="Run simulation").first.click()
            page.get_by_text("Showing run #2 checkout-outage · payments fault at 20min for 60s").wait_for()
            page.get_by_role("button", name="Latency (PNG)").wait_for()  # the last element: the page is complete
            values = page.get_by_test_id("stMetricValue").all_inner_texts()
            assert values[:4] == [h.text for h in expected]
            assert page.get_by_test_id("stImage").count() >= 3  # topology, time series, latency
            assert page.get_by_text("vs run #1").count() >= 3  # the change the shorter outage made
            path = screenshot_path(tmp_path)
            page.mouse.move(1400, 10)  # no hover highlight in the picture
            page.wait_for_timeout(500)  # let images finish decoding
            page.screenshot(path=str(path))
            assert path.stat().st_size > 50_000
            upload_an_invalid_scenario(page, tmp_path)
        finally:
            browser.close()
