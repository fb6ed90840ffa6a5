"""The `flowsim` command end to end: output formats, files written, exit codes, error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from flowsim.cli import app

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TWO_STAGE = ROOT / "architectures" / "two-stage.yaml"
SHORT = ["--set", "duration=2000s"]  # 1000s measured after the 1000s warm-up: fast but not empty
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def run_json(*args: str | Path) -> dict[str, object]:
    result = invoke("run", BASELINE, *SHORT, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def write_scenario(tmp_path: Path, slos: list[str]) -> Path:
    """A scenario next to nothing: it names the architecture by absolute path."""
    lines = [
        "name: strict",
        f"architecture: {json.dumps(str(TWO_STAGE))}",
        "duration: 2000s",
        "warmup: 1000s",
        "seed: 3",
    ]
    if slos:
        lines.append("slos:")
        lines += [f"  - {json.dumps(slo)}" for slo in slos]
    path = tmp_path / "strict.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- run ------------------------------------------------------------------------------------
def test_run_prints_tables() -> None:
    result = invoke("run", BASELINE, *SHORT)
    assert result.exit_code == 0, result.output
    for text in ("Nodes", "End to end", "SLOs", "Theory vs simulation", "Bottleneck", "api", "done"):
        assert text in result.stdout


def test_run_json_is_the_result_and_nothing_else() -> None:
    data = run_json()
    nodes = data["nodes"]
    assert isinstance(nodes, dict)
    assert 0.2 < nodes["api"]["utilization"] < 0.7
    assert nodes["api"]["wait_s"]["p99"] >= 0
    end_to_end = data["end_to_end"]
    assert isinstance(end_to_end, dict)
    assert end_to_end["done"]["latency_s"]["p99"] > 0


def test_set_override_changes_utilization() -> None:
    two = run_json()["nodes"]
    one = run_json("--set", "nodes.api.servers=1")["nodes"]
    assert isinstance(two, dict) and isinstance(one, dict)
    assert one["api"]["utilization"] > 1.5 * two["api"]["utilization"]


def test_replications_in_worker_processes_report_cis() -> None:
    data = run_json("--replications", "2", "--workers", "2")
    assert data["replications"] == 2
    nodes = data["nodes"]
    assert isinstance(nodes, dict)
    assert "utilization" in nodes["api"]["ci95"]


def test_out_writes_json_csv_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = invoke("run", BASELINE, *SHORT, "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "result.json").read_text())["scenario"] == "baseline"
    series = pd.read_csv(out / "timeseries.csv")
    assert {"replication", "time_s", "node", "waiting", "busy", "throughput_per_s"} <= set(series.columns)
    latencies = pd.read_csv(out / "latencies.csv")
    assert list(latencies.columns) == ["sink", "latency_s"] and len(latencies) > 0
    for name in ("throughput.png", "queue_length.png", "latency.png", "utilization.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert str(out) in result.output


@pytest.mark.slow
def test_out_parquet(tmp_path: Path) -> None:
    result = invoke("run", BASELINE, *SHORT, "--out", tmp_path, "--series-format", "parquet", "--quiet")
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(tmp_path / "latencies.parquet")["sink"]) == {"done"}
    assert len(pd.read_parquet(tmp_path / "timeseries.parquet")) > 0
    assert not (tmp_path / "timeseries.csv").exists()


# ---- check ----------------------------------------------------------------------------------
def test_check_passes_with_exit_0() -> None:
    result = invoke("check", BASELINE, *SHORT)
    assert result.exit_code == 0, result.output
    assert "✓" in result.stdout


def test_check_fails_with_exit_1(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, ["end_to_end.done.latency_s.p99 < 1ms", "totals.dropped == 0"])
    result = invoke("check", scenario)
    assert result.exit_code == 1, result.output
    assert "✗" in result.stdout
    assert "1 of 2 SLOs failed" in result.stderr


def test_check_json(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, ["end_to_end.done.latency_s.p99 < 1ms"])
    result = invoke("check", scenario, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False
    assert data["slos"][0]["metric"] == "end_to_end.done.latency_s.p99"
    assert data["slos"][0]["unit"] == "s"  # value and threshold in seconds, said


def test_check_without_slos_fails_before_running(tmp_path: Path) -> None:
    # a CI gate that checked nothing must not pass (it warned and exited 0); it says so at once
    result = invoke("check", write_scenario(tmp_path, []))
    assert result.exit_code == 2, result.output  # refused: not an SLO failure
    assert "defines no SLOs, so there is nothing to check" in result.stderr and "add an 'slos:' list" in result.stderr
    assert result.stdout == ""  # refused before any run or table


# ---- validate -------------------------------------------------------------------------------
def test_validate_good_files() -> None:
    result = invoke("validate", BASELINE, TWO_STAGE)
    assert result.exit_code == 0, result.output
    assert "scenario 'baseline' (3 nodes, 2 edges)" in result.stdout
    assert "architecture 'two-stage' (3 nodes, 2 edges)" in result.stdout


def test_validate_bad_file_reports_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nnodes:\n  in: {kind: source, rate: 2/s}\n  api: {kind: servce, servers: 2}\n"
        "  done: {kind: sink}\nedges:\n  - in -> api\n  - api -> done\n",
        encoding="utf-8",
    )
    result = invoke("validate", TWO_STAGE, bad)
    assert result.exit_code == 1
    assert f"{bad}:4:" in result.stderr
    assert "did you mean 'service'?" in result.stderr
    assert "two-stage" in result.stdout  # the good file is still reported


def test_validate_unknown_document(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("foo: 1\n", encoding="utf-8")
    result = invoke("validate", other)
    assert result.exit_code == 1
    assert "cannot tell whether" in result.stderr


# ---- schema ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["architecture", "scenario", "result"])
def test_schema_prints_json(kind: str) -> None:
    result = invoke("schema", "--kind", kind)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["type"] == "object" and "properties" in schema


def test_schema_out_writes_all(tmp_path: Path) -> None:
    result = invoke("schema", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    for kind in ("architecture", "scenario", "result"):
        json.loads((tmp_path / f"{kind}.schema.json").read_text())


# ---- graph ----------------------------------------------------------------------------------
def test_graph_mermaid() -> None:
    result = invoke("graph", BASELINE)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("flowchart LR")
    assert all(name in text for name in ("arrivals", "api", "done"))
    assert "n_api --> n_done" in text


def test_graph_dot() -> None:
    result = invoke("graph", TWO_STAGE, "--format", "dot")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('digraph "two-stage"')
    assert '"api" -> "done";' in result.stdout


def test_graph_reference_edges_are_dashed_and_labelled(tmp_path: Path) -> None:
    arch = tmp_path / "dlq.yaml"
    arch.write_text(
        "name: with-dlq\nnodes:\n  in: {kind: source, rate: 1/s}\n"
        "  api: {kind: service, service_time: 0.5s, error_rate: 0.1, dead_letter: dlq}\n"
        "  done: {kind: sink}\n  dlq: {kind: sink}\n"
        "edges:\n  - in -> api\n  - {from: api, to: done, weight: 3}\n",
        encoding="utf-8",
    )
    mermaid = invoke("graph", arch).stdout
    assert 'n_api -.->|"dead_letter"| n_dlq' in mermaid
    assert 'n_api -->|"weight 3"| n_done' in mermaid
    assert '"api" -> "dlq" [label="dead_letter", style=dashed];' in invoke("graph", arch, "-f", "dot").stdout


def test_graph_png(tmp_path: Path) -> None:
    out = tmp_path / "design.png"
    result = invoke("graph", TWO_STAGE, "--format", "png", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_graph_png_needs_out() -> None:
    assert invoke("graph", TWO_STAGE, "--format", "png").exit_code == 2


# ---- kinds ----------------------------------------------------------------------------------
def test_kinds_lists_registered_kinds() -> None:
    result = invoke("kinds")
    assert result.exit_code == 0, result.output
    for kind in ("service", "source", "sink"):
        assert kind in result.stdout


def test_kind_fields() -> None:
    result = invoke("kinds", "service")
    assert result.exit_code == 0, result.output
    for text in ("servers", "service_time", "distribution", "required"):
        assert text in result.stdout


def test_unknown_kind() -> None:
    result = invoke("kinds", "servic")
    assert result.exit_code == 2  # a wrong argument is a usage error, like a wrong option
    assert "unknown node kind" in result.stderr
    assert "did you mean 'service'?" in result.stderr


# ---- errors and usage -----------------------------------------------------------------------
def test_usage_errors_exit_2() -> None:
    assert invoke("run").exit_code == 2
    assert invoke("run", BASELINE, "--format", "xml").exit_code == 2


def test_missing_file_exit_2_without_traceback(tmp_path: Path) -> None:
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2  # refused input, told apart from a failed SLO (1)
    assert "error:" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.output


def test_refused_input_with_format_json_is_a_json_document(tmp_path: Path) -> None:
    # a script parsing stdout read an empty string; it now reads why, located
    good = write_scenario(tmp_path, ["totals.dropped == 0"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text(encoding="utf-8").replace("duration:", "duraton:", 1), encoding="utf-8")
    for command in ("run", "check"):
        result = invoke(command, bad, "--format", "json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["type"] == "SpecError" and error["exit_code"] == 2
        typo = next(p for p in error["problems"] if p["field"] == "duraton")
        assert (typo["source"], typo["line"]) == (str(bad), 3) and "duration" in typo["hint"]
    missing = invoke("run", tmp_path / "nope.yaml", "--format", "json")
    assert missing.exit_code == 2 and "not found" in json.loads(missing.stdout)["error"]["problems"][0]["message"]


def test_bad_override_is_an_input_error() -> None:
    result = invoke("run", BASELINE, "--set", "nodes.apo.servers=3")
    assert result.exit_code == 2
    assert "did you mean 'api'?" in result.stderr
    assert "Traceback" not in result.output


def test_too_large_run_is_refused() -> None:
    # the per-message engine refuses a run over the limit ...
    result = invoke("run", BASELINE, "--max-events", "10", "--engine", "per_message")
    assert result.exit_code == 2
    assert "over the limit" in result.stderr
    # ... and `engine: auto` (the default) moves it to the fluid engine instead, saying so
    result = invoke("run", BASELINE, "--max-events", "10", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["engine"] == "fluid"


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("flowsim ")


@pytest.mark.slow
def test_out_writes_kind_timelines_for_ml_scenarios(tmp_path: Path) -> None:
    import json as _json

    out = tmp_path / "ml"
    code = (
        CliRunner().invoke(app, ["run", str(ROOT / "scenarios" / "drift-retraining.yaml"), "--out", str(out)]).exit_code
    )
    assert code == 0
    timelines = _json.loads((out / "timelines.json").read_text())
    events = [entry["event"] for entry in timelines["serving"][0]["versions"]]
    assert events[0] == "serving" and "canary" in events and events[-1] == "promoted"


def test_piped_tables_are_whole_not_cropped_at_80_columns() -> None:
    """Into a pipe rich would assume 80 columns and crop the last ones (compare's significance
    column); the table comes out as wide as it needs, each row complete."""
    result = invoke("compare", BASELINE, BASELINE, "-r", "2", *SHORT, "--set", "nodes.api.servers=3", "-q")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "figure" in line)
    assert len(header) > 80 and header.rstrip().endswith("┃") and "sig." in header
    assert "…" not in result.stdout  # no cell cut short


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    """`flowsim validate ... | head -1`: the command dies of SIGPIPE as `ls` would, no traceback."""
    import subprocess
    import sys

    code = "from flowsim.cli import main; import sys; sys.argv = ['flowsim', 'validate', *sys.argv[1:]]; main()"
    files = [str(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    with subprocess.Popen([sys.executable, "-c", code, *files], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # what `head -1` does after its line
        err = proc.stderr.read().decode()
        code_ = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert code_ in (0, -13)  # finished before noticing, or ended by SIGPIPE (13) like any Unix filter


# ---- the event log ---------------------------------------------------------------------------
def test_trace_writes_the_event_log_of_the_reported_run(tmp_path: Path) -> None:
    """`--trace` keeps every event; tracing draws no random numbers, so the figures are the untraced run's."""
    events_csv = tmp_path / "events.csv"
    traced = run_json("-r", "2", "--trace", events_csv)
    assert traced == run_json("-r", "2")
    log = pd.read_csv(events_csv)
    assert list(log.columns) == ["replication", "time_s", "node", "event", "item"]
    assert set(log["replication"]) == {0, 1}
    for _, one in log.groupby("replication"):
        assert one["time_s"].is_monotonic_increasing  # the order the kernel processed them
    # an item's life, in the kernel's order: the server logs its leave once the next node took
    # the item (under backpressure that is later than the end of service), so `sink` comes first
    first = log[(log["replication"] == 0) & (log["item"] == 1)]
    assert list(first["event"]) == ["emit", "arrive", "start", "sink", "leave"]


def test_trace_is_refused_when_the_log_would_be_too_long_or_the_name_is_wrong(tmp_path: Path) -> None:
    long = invoke("run", BASELINE, "--set", "duration=10000000s", "--trace", tmp_path / "e.csv")
    assert long.exit_code == 2 and "event log" in long.output and "events" in long.output
    assert not (tmp_path / "e.csv").exists()
    wrong = invoke("run", BASELINE, *SHORT, "--trace", tmp_path / "e.txt")
    assert wrong.exit_code == 2 and ".csv or .parquet" in wrong.output


def test_auto_says_on_stderr_when_a_large_run_goes_fluid() -> None:
    # baseline estimates ~10^5 events; a budget of 1,000 makes auto pick the fluid engine, which the
    # result's `engine` records and stderr now says, with the way back to every message.
    result = invoke("run", BASELINE, *SHORT, "--format", "json", "--max-events", "1000")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"] == "fluid"
    assert "ran on the fluid engine" in result.stderr and "--engine per_message" in result.stderr
    asked = invoke("run", BASELINE, *SHORT, "--format", "json", "--engine", "fluid")
    assert "ran on the fluid engine" not in asked.stderr  # asked for by name: nothing to say


def test_a_run_of_millions_of_events_says_its_size_before_it_starts(capsys: pytest.CaptureFixture[str]) -> None:
    # 2,000 messages/s through a service for 30 min: 3.6 million messages, each an arrival, a
    # service completion and a delivery: ~11 million events, said with a rough time before the run
    import flowsim
    from flowsim.analysis.view import analyze
    from flowsim.cli.console import OutputFormat
    from flowsim.cli.run import RunOptions, SeriesFormat, _say_size

    scenario = flowsim.load_scenario(
        "name: big\nduration: 30min\nseed: 1\narchitecture:\n  name: a\n  nodes:\n"
        "    src: {kind: source, rate: 2000/s}\n"
        "    api: {kind: service, servers: 4, service_time: {dist: exponential, mean: 1ms}}\n"
        "    done: {kind: sink}\n  edges: [src -> api, api -> done]\n"
    )
    opts = RunOptions(None, None, 1, [], OutputFormat.table, None, SeriesFormat.csv, None, False)
    _say_size(scenario, analyze(scenario.arch, 1.0, scenario.duration), opts, None, "big.yaml")
    err = capsys.readouterr().err
    assert "note: big.yaml: about" in err and "million events on the per-message engine" in err
    assert "--engine fluid approximates it" in err
