"""The app's cold start, the first result of every shipped scenario and the Stop, in a real browser.

Starts `streamlit run app.py` on a free port and drives Debian's chromium through playwright:

- **cold start**: from launching the server process to the page loaded, the page's header,
  the default scenario's key figures ("Showing run #1" and the headline metrics), its results
  drawn, and the end of the script run;
- with `--cold N`, first N cold starts of the app taking turns with those of a Streamlit page that
  writes only the header: the part of a cold start that is Streamlit's own;
- **per scenario**: picked in the sidebar in turn, each once, from the click to its key figures,
  to the status saying its results are drawn (and whether the result was simulated or taken from
  the cache, where the server's warmer put the first looks it computed ahead), and to the end of
  the script run (the other tabs drawn too); the next pick waits for that end;
- **Stop**: a long run (checkout-outage at 10x its horizon) stopped after 1.5 s, from the click to
  the note on the page, and the engine's own delay that the note reports.

From the repository root: `PYTHONPATH=src python bench/app_first_result.py [--only NAME ...]`;
`--settle S` leaves the server alone S seconds after the cold start (its warmer works then);
`FLOWSIM_APP_WARM=0` in the environment turns the warmer off, so every pick simulates.
Timings depend on the machine's load (printed before and after): compare within one run.
Nothing here is timed in the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
HEADER = "flowsim · architecture under load"
DEFAULT = "checkout-outage"
TIMEOUT_MS = 120_000
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # the script run has ended


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(port: int, script: str = "app.py") -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def open_when_up(page: Any, url: str, server: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    """Load the page as soon as the server accepts connections."""
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}")
        try:
            page.goto(url, timeout=5_000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_idle(page: Any) -> None:
    page.locator(IDLE).wait_for(state="attached")


def cold_start(page: Any, url: str, port: int) -> tuple[subprocess.Popen[bytes], dict[str, float]]:
    started = time.monotonic()
    server = start_server(port)
    open_when_up(page, url, server)
    times = {"up": time.monotonic() - started}
    page.get_by_text(HEADER).wait_for()
    times["header"] = time.monotonic() - started
    page.get_by_text(f"Showing run #1 {DEFAULT}").wait_for()
    page.get_by_test_id("stMetricValue").first.wait_for()
    times["figures"] = time.monotonic() - started
    page.get_by_text(f"Run #1 {DEFAULT}: simulated and drawn").wait_for()  # nothing is cached yet
    times["drawn"] = time.monotonic() - started
    wait_idle(page)
    times["idle"] = time.monotonic() - started
    return server, times


BARE = f"import streamlit as st\n\nst.header({HEADER!r})\n"  # Streamlit's own floor: a page of one header


def bare_cold_start(browser: Any, script: Path) -> dict[str, float]:
    """The same cold start for a Streamlit page that only writes the header: what Streamlit itself takes."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    port = free_port()
    started = time.monotonic()
    server = start_server(port, str(script))
    try:
        open_when_up(page, f"http://127.0.0.1:{port}", server)
        times = {"up": time.monotonic() - started}
        page.get_by_text(HEADER).wait_for()
        times["header"] = time.monotonic() - started
        return times
    finally:
        page.close()
        server.terminate()
        server.wait(timeout=10)


def cold_starts(browser: Any, rounds: int) -> None:
    """`rounds` cold starts of the app and of the bare page, taking turns, each with a new server."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bare.py"
        script.write_text(BARE, encoding="utf-8")
        print("\n| cold start | page loaded (s) | header (s) | key figures (s) | results drawn (s) |")
        print("|---|---:|---:|---:|---:|")
        for _ in range(rounds):
            bare = bare_cold_start(browser, script)
            print(f"| bare Streamlit page | {bare['up']:.1f} | {bare['header']:.1f} | | |", flush=True)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            port = free_port()
            server, cold = cold_start(page, f"http://127.0.0.1:{port}", port)
            page.close()
            server.terminate()
            server.wait(timeout=10)
            print(f"| flowsim app | {cold['up']:.1f} | {cold['header']:.1f} | {cold['figures']:.1f} | "
                  f"{cold['drawn']:.1f} |", flush=True)  # fmt: skip


def first_result(page: Any, name: str, number: int) -> tuple[float, float, float, str]:
    """Pick `name` in the sidebar: seconds to its key figures, to its results drawn and to the end of
    the script run, and where the result came from ("run" or "cache")."""
    page.get_by_role("combobox", name="Scenario").first.click()
    page.keyboard.type(name)  # the list is virtualised: typing filters it to the option
    option = page.get_by_role("option", name=name, exact=True)
    clicked = time.monotonic()
    option.click()
    page.get_by_text(f"Showing run #{number} {name}").first.wait_for()
    page.get_by_test_id("stMetricValue").first.wait_for()
    figures = time.monotonic() - clicked
    done = page.get_by_text(re.compile(rf"Run #{number} {re.escape(name)}: (simulated|taken from the cache) and drawn"))
    done.wait_for()
    drawn = time.monotonic() - clicked
    source = "cache" if "cache" in done.inner_text() else "run"
    wait_idle(page)
    return figures, drawn, time.monotonic() - clicked, source


def long_run_set_up(page: Any, number: int) -> None:
    """The default scenario picked again (its first look is run #`number`), at 10x its 30 min horizon."""
    page.get_by_role("combobox", name="Scenario").first.click()
    page.keyboard.type(DEFAULT)
    page.get_by_role("option", name=DEFAULT, exact=True).click()
    page.get_by_text(f"Showing run #{number} {DEFAULT}").first.wait_for()
    wait_idle(page)
    duration = page.get_by_role("spinbutton", name="Duration (s, warm-up included)")
    duration.fill("18000")
    duration.press("Tab")
    wait_idle(page)


def stop_once(page: Any) -> tuple[float, float]:
    """Start the long run, stop it after 1.5 s: seconds from the click to the note, and the engine's delay
    the note reports."""
    page.get_by_role("button", name="Run simulation").first.click()
    stop = page.get_by_role("button", name="Stop")
    stop.wait_for()
    page.wait_for_timeout(1500)
    clicked = time.monotonic()
    stop.click()
    page.get_by_text("Stopped after").last.wait_for()
    shown = time.monotonic() - clicked
    note = page.get_by_text("the simulation ended").last
    note.wait_for()
    ended = re.search(r"the simulation ended ([0-9.]+) s", note.inner_text())
    wait_idle(page)
    return shown, float(ended[1]) if ended else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="these scenarios only (default: every shipped one)")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to leave the server alone after its start")
    parser.add_argument("--stops", type=int, default=3, help="how many times to measure the Stop")
    parser.add_argument("--cold", type=int, default=0, help="first, this many cold starts beside a bare Streamlit page")
    args = parser.parse_args()
    names = args.only or sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    warm = "off" if os.environ.get("FLOWSIM_APP_WARM") == "0" else "on"
    print(f"load average before: {load()} on {os.cpu_count()} cores; cache warmer {warm}; settle {args.settle:g} s")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        if args.cold:
            cold_starts(browser, args.cold)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        server, cold = cold_start(page, url, port)
        try:
            print(f"\ncold start: page loaded {cold['up']:.1f} s, header {cold['header']:.1f} s, key figures "
                  f"{cold['figures']:.1f} s, results drawn {cold['drawn']:.1f} s, "
                  f"run ended {cold['idle']:.1f} s")  # fmt: skip
            time.sleep(args.settle)
            print("\n| scenario | result | key figures (s) | results drawn (s) | run ended (s) |")
            print("|---|---|---:|---:|---:|")
            number, worst = 1, 0.0
            for name in names:
                if name == DEFAULT:
                    print(f"| {name} | cold start | {cold['figures']:.1f} | {cold['drawn']:.1f} | {cold['idle']:.1f} |")
                    continue
                number += 1
                figures, drawn, ended, source = first_result(page, name, number)
                worst = max(worst, figures)
                print(f"| {name} | {source} | {figures:.1f} | {drawn:.1f} | {ended:.1f} |", flush=True)
            print(f"\nslowest key figures after a pick: {worst:.1f} s; load average {load()}")
            long_run_set_up(page, number + 1)
            for _ in range(args.stops):
                shown, engine = stop_once(page)
                print(f"Stop: note on the page {shown:.2f} s after the click; the engine ended {engine:.2f} s "
                      f"after the stop flag", flush=True)  # fmt: skip
        finally:
            browser.close()
            server.terminate()
            server.wait(timeout=10)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
