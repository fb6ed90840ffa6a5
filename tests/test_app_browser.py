"""The app in a real browser: `streamlit run app.py` driven by playwright in Debian's chromium.

Skipped, with the reason, where playwright or /usr/bin/chromium is missing (CI installs both:
`pip install playwright` and `apt-get install chromium`; `playwright install` is never needed).
With FLOWSIM_UPDATE_SCREENSHOT=1 the screenshot replaces docs/screenshot.png (the README's).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import flowsim
from flowsim.reports.app_frames import headline

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
    shipped = os.environ | {"FLOWSIM_APP_WARM": "1"}  # as shipped: the first looks computed ahead
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=shipped)
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


def docs_or_tmp(name: str, tmp_path: Path) -> Path:
    """docs/<name> with FLOWSIM_UPDATE_SCREENSHOT=1 (the README's pictures), else a scratch file."""
    return ROOT / "docs" / name if os.environ.get("FLOWSIM_UPDATE_SCREENSHOT") == "1" else tmp_path / name


def charts_sticking_out(page: Any) -> list[str]:
    """Charts whose drawing reaches past their box or the window (a clipped axis), as 'index: px'."""
    found: list[str] = page.evaluate(
        """Array.from(document.querySelectorAll('.vega-embed')).flatMap((embed, i) => {
             const drawing = embed.querySelector('svg, canvas');
             if (!drawing) return [];
             const box = embed.getBoundingClientRect(), inner = drawing.getBoundingClientRect();
             const over = Math.max(inner.right - box.right, inner.right - window.innerWidth);
             return over > 1 ? [`${i}: ${over.toFixed(0)} px`] : [];
           })"""
    )
    return found


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


def pick(page: Any, name: str) -> None:
    page.get_by_role("combobox", name="Scenario").first.click()
    page.keyboard.type(name)  # the list is virtualised: typing filters it to the option
    page.get_by_role("option", name=name, exact=True).click()


def test_a_scenario_runs_through_the_page(app_url: str, tmp_path: Path) -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "checkout-outage.yaml", {"faults": OUTAGE})
    expected = headline(flowsim.simulate(scenario, seed=scenario.seed), scenario.arch)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(app_url)
            page.get_by_text("Showing run #1 checkout-outage").wait_for()  # the default scenario's first look
            outage = page.get_by_role("spinbutton", name="payments outage #1 · lasts (s)")
            outage.fill("60")
            outage.press("Tab")
            page.get_by_role("button", name="Run simulation").first.click()
            page.get_by_text("Showing run #2 checkout-outage · payments fault at 20min for 60s").wait_for()
            page.get_by_role("button", name="Latency (PNG)").wait_for()  # the last element: the page is complete
            values = page.get_by_test_id("stMetricValue").all_inner_texts()
            assert values[:4] == [h.card for h in expected]  # the unit is in the label
            assert page.locator(".vega-embed").count() >= 3  # topology, time series, latency (Vega-Lite)
            # the change the shorter outage made against run #1, the whole 5-minute outage (the first
            # look runs a scenario about a fault whole): fewer lost, a lower p99; the input is the same
            assert page.get_by_text("vs run #1").count() >= 2
            path = screenshot_path(tmp_path)
            page.mouse.move(1400, 10)  # no hover highlight in the picture
            page.wait_for_timeout(500)  # let images finish decoding
            page.screenshot(path=str(path))
            assert path.stat().st_size > 50_000
            upload_an_invalid_scenario(page, tmp_path)
        finally:
            browser.close()


# ---- run control, what-if, phone (issue 14) ----------------------------------------------------
def open_page(playwright: Any, url: str, width: int = 1440, height: int = 1000) -> tuple[Any, Any]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return browser, page


@contextmanager
def at_the_first_look(app_url: str) -> Iterator[Any]:
    """A page at 1,440 px showing the default scenario's first look (run #1); closed after."""
    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, app_url)
        try:
            page.get_by_text("Showing run #1 checkout-outage").wait_for()
            yield page
        finally:
            browser.close()


def pick_and_wait(page: Any, number: int, name: str) -> None:
    """Pick `name` as run #`number` and wait until the page shows it."""
    pick(page, name)
    page.get_by_text(f"Showing run #{number} {name}").wait_for()


def run_button(page: Any) -> Any:
    return page.get_by_role("button", name="Run simulation").first


def set_number(page: Any, label: str, value: str) -> None:
    field = page.get_by_role("spinbutton", name=label)
    field.fill(value)
    field.press("Tab")


def test_stop_ends_a_run_within_a_second_and_keeps_the_earlier_runs(app_url: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, app_url)
        try:
            page.get_by_text("Showing run #1 checkout-outage").wait_for()  # the first look, kept
            set_number(page, "Duration (s, warm-up included)", "18000")  # 10x the 30 min: about a minute of work
            run_button(page).click()
            stop = page.get_by_role("button", name="Stop")
            stop.wait_for()
            page.wait_for_timeout(1500)  # the run is under way
            clicked = time.monotonic()
            stop.click()
            page.get_by_text("Stopped after").wait_for()  # said at once, before the engine has ended
            waited = time.monotonic() - clicked
            assert waited < 10.0, f"the page answered the Stop after {waited:.2f} s"  # bounded: a hung page fails
            assert page.get_by_text("nothing of that run is kept, the 1 earlier run is").count() == 1
            earlier = page.get_by_text("Showing run #1 checkout-outage")
            earlier.wait_for()  # drawn again under the note, which comes first
            assert earlier.count() == 1  # the earlier run is kept
            # the click interrupts the page at its next 0.05 s poll, which sets the stop flag; the engine ends at
            # its next chunk (1/500 of the run, 36 s of 18,000 s simulated, ~0.2 s of work here) and the page's
            # end says how long that took
            note = page.get_by_text("the simulation ended")
            note.wait_for()
            ended = re.search(r"the simulation ended ([0-9.]+) s after the Stop", note.inner_text())
            assert ended is not None and float(ended[1]) < 1.0, note.inner_text()
        finally:
            browser.close()


def test_a_yaml_edit_and_a_sidebar_change_apply_with_one_press(app_url: str) -> None:
    with at_the_first_look(app_url) as page:
        set_number(page, "payments · servers", "9")  # a sidebar change, not yet run
        page.get_by_role("tab", name="Scenario YAML").click()
        editor = page.get_by_role("textbox", name="Scenario YAML: edit or paste")
        text = editor.input_value()
        editor.fill(text.replace("name: checkout-outage", "name: checkout-edited", 1))
        run_button(page).click()  # while the editor has the focus: one press
        page.get_by_role("tab", name="Results").click()
        page.get_by_text("Showing run #2 checkout-edited · payments.servers=9").wait_for()


def test_a_pasted_shipped_scenario_runs_with_its_relative_architecture(app_url: str) -> None:
    raw = (ROOT / "scenarios" / "baseline.yaml").read_text(encoding="utf-8")
    assert "architecture: ../architectures/two-stage.yaml" in raw  # the relative path as shipped
    with at_the_first_look(app_url) as page:
        page.get_by_role("tab", name="Scenario YAML").click()
        page.get_by_role("textbox", name="Scenario YAML: edit or paste").fill(raw)
        run_button(page).click()
        page.get_by_role("tab", name="Results").click()
        page.get_by_text("Showing run #2 baseline").wait_for()
        assert page.get_by_text(str(ROOT)).count() == 0 and page.get_by_text("not found").count() == 0  # no server path


def test_the_what_if_sweep_is_plotted_with_confidence_intervals(app_url: str, tmp_path: Path) -> None:
    with at_the_first_look(app_url) as page:
        pick_and_wait(page, 2, "baseline")
        page.get_by_role("tab", name="What-if").click()
        set_number(page, "From", "0.5")
        set_number(page, "To", "2")
        set_number(page, "Points", "4")
        page.get_by_role("button", name="Run what-if").click()
        done = page.get_by_text("What-if A: 4 points")
        done.wait_for()
        if (os.cpu_count() or 1) > 1:  # 4 points x 3 replications: one worker process per core
            assert f"on {min(os.cpu_count() or 1, 12)} processes" in done.inner_text()
        # baseline: rho = 0.45 at 1x, so 2x (rho 0.9) still holds unless the p99 SLO (6 s) breaks
        page.get_by_text("every SLO holds and no server saturates up to").or_(
            page.get_by_text("meets every SLO without saturating")).first.wait_for()  # fmt: skip
        panel = page.get_by_role("tabpanel", name="What-if")
        panel.locator(".vega-embed").first.wait_for()
        page.wait_for_timeout(1000)
        assert panel.locator(".vega-embed").count() == 1  # p99, throughput, utilization, losses: one chart
        text = panel.locator(".vega-embed").first.inner_text()
        assert "lost: dropped + dead-lettered + deleted unread (messages)" in text and "Load multiplier" in text
        assert charts_sticking_out(page) == []
        panel.locator(".vega-embed").first.scroll_into_view_if_needed()
        page.mouse.move(1400, 10)
        page.wait_for_timeout(500)
        page.screenshot(path=str(docs_or_tmp("screenshot-whatif.png", tmp_path)))
        # the error bars are Vega rule marks with a 95% low and high: one per point with 3 replications
        assert panel.locator(".vega-embed .mark-rule path, .vega-embed .mark-rule line").count() >= 4


def test_the_page_fits_a_phone_and_the_diagram_text_stays_legible(app_url: str, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, app_url, width=390, height=844)
        try:
            page.get_by_text("Showing run #1 checkout-outage").wait_for()
            page.wait_for_timeout(1500)  # charts finish their layout
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= 390, f"the page is {scroll} px wide at a 390 px viewport"
            diagram = page.locator(".vega-embed").first
            box = diagram.bounding_box()
            assert box is not None and box["width"] >= 330  # the diagram spans the column (390 - padding)
            sizes = page.evaluate(
                "Array.from(document.querySelectorAll('.vega-embed')[0].querySelectorAll('text'))"
                ".map(t => parseFloat(getComputedStyle(t).fontSize))"
            )
            assert sizes and min(sizes) >= 10  # node names 12 px, details 11 px; the PNG diagram had ~4.7 px
            path = ROOT / "docs" / "screenshot-phone.png" if os.environ.get("FLOWSIM_UPDATE_SCREENSHOT") == "1" \
                else tmp_path / "phone.png"  # fmt: skip
            page.screenshot(path=str(path), full_page=False)
        finally:
            browser.close()


def test_compare_overlays_both_runs_on_one_chart_with_the_paired_differences(app_url: str, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, app_url)
        try:
            page.get_by_text("Showing run #1 checkout-outage").wait_for()  # the first look
            run_button(page).click()  # as written: 30 min with the 5 min payments outage at 20 min
            page.get_by_text("Showing run #2 checkout-outage · as written").wait_for()
            page.get_by_role("button", name="Latency (PNG)").wait_for()  # drawn to the end, as a user waits
            set_number(page, "payments · servers", "12")  # 8 -> 12 servers
            run_button(page).click()
            page.get_by_text("Showing run #3 checkout-outage · payments.servers=12").wait_for()
            page.get_by_role("tab", name="Compare runs").click()
            panel = page.get_by_role("tabpanel", name="Compare runs")
            page.get_by_text("Paired differences, B - A").wait_for()
            overlay = panel.locator(".vega-embed").first
            overlay.wait_for()
            page.wait_for_timeout(1500)
            assert panel.locator(".vega-embed").count() == 2  # the time series overlaid, the latency tails overlaid
            text = overlay.inner_text()
            # one chart, both runs named in full, one time unit, units on every axis
            assert "A: run #2 checkout-outage · as written" in text
            assert "B: run #3 checkout-outage · payments.servers=12" in text
            for title in ("simulated time (min)", "all sinks: delivered (items/s)", "payments busy (% of servers)",
                          "payments queue (items waiting)"):  # fmt: skip
                assert title in text, title
            headlines = panel.get_by_role("table").first  # A and B's headline figures, never cut
            assert "Input rate" in headlines.inner_text() and "messages/s" in headlines.inner_text()
            table = panel.get_by_role("table").filter(has_text="95% CI of B - A")
            row = table.get_by_role("row").filter(has_text="payments: utilization").inner_text()
            # 8 -> 12 servers at the same load: utilization falls to about 8/12 of what it was
            change = re.search(r"([+-][0-9.]+) pp", row)
            assert change is not None and float(change[1]) < 0, row
            assert "95% CI of B - A" in table.inner_text() and "significant" in table.inner_text()
            assert charts_sticking_out(page) == []
            heading = page.get_by_text("Over time, on the same axes")
            heading.evaluate("e => e.scrollIntoView({block: 'start'})")  # the picture: heading, legend, panels
            page.mouse.move(1400, 10)
            page.wait_for_timeout(500)
            page.screenshot(path=str(docs_or_tmp("screenshot-compare.png", tmp_path)))
        finally:
            browser.close()


def sidebar_is_open(page: Any) -> bool:
    box = page.get_by_test_id("stSidebar").bounding_box()
    return box is not None and box["x"] + box["width"] > 1  # Streamlit slides a closed sidebar off to the left


def test_on_a_phone_a_pick_closes_the_sidebar_and_nothing_scrolls_sideways(app_url: str, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as playwright:
        browser, page = open_page(playwright, app_url, width=390, height=844)
        try:
            page.get_by_text("Showing run #1 checkout-outage").wait_for()
            assert not sidebar_is_open(page)  # Streamlit starts it closed on a phone
            page.get_by_test_id("stExpandSidebarButton").click()
            page.wait_for_timeout(600)
            assert sidebar_is_open(page)
            page.get_by_role("combobox", name="Scenario").first.click()
            page.get_by_role("option", name="baseline", exact=True).click()
            page.get_by_text("Showing run #2 baseline").wait_for()
            page.wait_for_timeout(600)  # the slide of the sidebar
            assert not sidebar_is_open(page)  # the result is not under the sidebar
            page.get_by_test_id("stExpandSidebarButton").click()  # and it opens again as before
            page.wait_for_timeout(600)
            assert sidebar_is_open(page)
            run_button(page).click()  # the sidebar's Run closes it too
            page.get_by_text("Showing run #3 baseline").wait_for()
            page.wait_for_timeout(1500)  # charts finish their layout
            assert not sidebar_is_open(page)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= 390, f"the page is {scroll} px wide at a 390 px viewport"
            assert charts_sticking_out(page) == []  # every chart inside its box (the page hides overflow)
            sizes = page.evaluate(
                "Array.from(document.querySelectorAll('.vega-embed')[0].querySelectorAll('text'))"
                ".map(t => parseFloat(getComputedStyle(t).fontSize))"
            )
            assert sizes and min(sizes) >= 10  # the diagram's text
        finally:
            browser.close()


def test_stop_ends_a_parallel_what_if_within_a_second_and_keeps_the_earlier_one(app_url: str) -> None:
    with at_the_first_look(app_url) as page:
        pick_and_wait(page, 2, "baseline")
        page.get_by_role("tab", name="What-if").click()
        set_number(page, "Points", "2")
        set_number(page, "Replications per point", "2")
        page.get_by_role("button", name="Run what-if").click()
        page.get_by_text("What-if A: 2 points").wait_for()  # a short one first, kept
        set_number(page, "Duration (s, warm-up included)", "2000000")  # 200x the 10,000 s: minutes of work
        page.get_by_role("button", name="Run what-if").click()
        stop = page.get_by_role("button", name="Stop what-if")
        stop.wait_for()
        page.wait_for_timeout(2000)  # the workers are under way
        stop.click()
        note = page.get_by_text("What-if stopped after")
        note.wait_for()
        # Stop shuts the pool down and terminates its workers: the page says how long the sweep took to end
        ended = re.search(r"it ended ([0-9.]+) s after the Stop", note.inner_text())
        assert ended is not None and float(ended[1]) < 1.0, note.inner_text()
        assert "the 1 earlier what-if are" in note.inner_text()
        assert page.get_by_text("What-if A:").count() >= 1  # the first what-if is still drawn


# ---- first results (issue 14: "fast first result") ------------------------------------------------
#: the three slowest first results in the browser (log-compaction 7.0 s, consumer-autoscaling 6.9 s,
#: airflow-fanout 6.4 s on a loaded 2-core machine before the first looks were computed ahead), then one
#: scenario of each family not among them: Kafka, checkout services, Airflow catch-up, ML, Lambda/Kappa,
#: warehouse; bench/app_first_result.py times every shipped scenario
FIRST_RESULTS = ["log-compaction", "consumer-autoscaling", "airflow-fanout", "kafka-baseline", "checkout-baseline",
                 "airflow-catchup", "drift-retraining", "kappa-reprocessing", "warehouse-contention"]  # fmt: skip


def first_look_run(name: str) -> tuple[flowsim.Scenario, flowsim.RunResult, str]:
    """What a pick of `name` runs, simulated here: its first look, the result and the note of its cut."""
    from flowsim.app.jobs import first_look

    path = ROOT / "scenarios" / f"{name}.yaml"
    scenario = flowsim.load_scenario(path)
    cut, note = first_look(scenario)
    short = flowsim.load_scenario(path, cut) if cut else scenario
    return short, flowsim.simulate(short, seed=short.seed, replications=short.replications), note


def expected_first_look(name: str) -> tuple[list[str], str]:
    """The headline a pick of `name` must show, and the note of its cut."""
    short, result, note = first_look_run(name)
    return [h.card for h in headline(result, short.arch)], note


#: the scenarios whose lesson figure the page once left out (issue 14, item 1)
LESSON_PAGES = ["slow-consumer-retention", "crash-at-least-once", "hot-partition", "lambda-vs-kappa-freshness"]


def expected_lesson_rows(name: str) -> tuple[str, list[tuple[str, str]]]:
    """The lesson's sentence and its figures as the page's key-figures table writes them (label, value)."""
    from flowsim.key_figures import key_figures
    from flowsim.reports.key_tables import figure_text

    short, result, _note = first_look_run(name)
    assert short.lesson is not None
    lesson = [f for f in key_figures(result, short) if f.why == "lesson"]
    return short.lesson.text, [(f.label, figure_text(f, result.replications)) for f in lesson]


def test_each_lesson_figure_is_written_in_the_page(app_url: str) -> None:
    with at_the_first_look(app_url) as page:
        for number, name in enumerate(LESSON_PAGES, start=2):
            sentence, rows = expected_lesson_rows(name)
            pick_and_wait(page, number, name)
            table = page.get_by_test_id("stTable").first  # the key figures: a table of text, lesson first
            table.wait_for()
            cells = [[c.strip() for c in row.locator("th, td").all_inner_texts()]
                     for row in table.locator("tbody tr").all()]  # fmt: skip
            words = " ".join(sentence.split()[:6])  # the lesson's sentence opens the results
            assert page.get_by_text(f"Lesson: {words}").count() == 1, name
            for (label, value), cell in zip(rows, cells, strict=False):
                assert cell[:3] == ["▶", label, value], (name, cell)  # marked, named, valued
            assert len(cells) >= len(rows) and rows, name


def test_a_first_result_appears_for_the_slowest_scenarios_and_each_family(app_url: str) -> None:
    with at_the_first_look(app_url) as page:
        for number, name in enumerate(FIRST_RESULTS, start=2):
            expected, note = expected_first_look(name)
            pick_and_wait(page, number, name)
            page.get_by_text(re.compile(rf"Run #{number} {re.escape(name)}: .* and drawn")).wait_for()
            values = page.get_by_test_id("stMetricValue").all_inner_texts()
            assert values[: len(expected)] == expected, name  # the page's figures are the first look's
            if note:  # a cut horizon is said on the page
                assert page.get_by_text(note.split(" (")[0]).count() == 1, name
            assert page.locator(".vega-embed").count() >= 3, name  # topology, time series, latency
