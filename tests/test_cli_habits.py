"""CLI habits: one-pass `validate` (several files, --strict, JSON), `-` for stdin, `kinds --format json`.

Exit codes as documented: 0 ok; 1 invalid input or (with --strict) a warning; 2 usage.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flowsim.cli import app

ROOT = Path(__file__).resolve().parents[1]
TWO_STAGE = ROOT / "architectures" / "two-stage.yaml"
PEAK = ROOT / "scenarios" / "peak-3x.yaml"
runner = CliRunner()

# Eight problems on three layers: the node schema (servers), edge names, a source's contradiction,
# the scenario schema (replications), fault and SLO names, an outage after the run.
# Each line number is where it is written.
SIX_LAYERS = textwrap.dedent(
    """\
    name: many
    architecture:
      name: inline
      nodes:
        arrivals: {kind: source, rate: 0.9/s, start: 50s, stop: 10s}
        api: {kind: service, servers: -1, service_time: {dist: exponential, mean: 1s}}
        done: {kind: sink}
      edges:
        - arrivals -> api
        - api -> dnoe
    duration: 100s
    warmup: 10s
    replications: 0
    faults:
      - {node: apii, at: 10s, for: 5s}
      - {node: api, at: 1h, for: 1s}
    slos:
      - end_to_end.dnoe.latency_s.p99 < 6s
      - totals.droped == 0
    """
)
EXPECTED = [  # (line, field, message fragment)
    (6, "architecture.nodes.api.servers", "greater than or equal to 1"),
    (10, "architecture.edges[1].to", "unknown node 'dnoe' (did you mean 'done'?)"),
    (5, "architecture.nodes.arrivals.stop", "stops (10s) before it starts (50s)"),
    (13, "replications", "greater than or equal to 1"),
    (15, "faults[0].node", "unknown node 'apii' (did you mean 'api'?)"),
    (16, "faults[1].at", "the outage starts at 60min, after the run ends (100s)"),
    (18, "slos[0]", "unknown node 'dnoe' in metric"),
    (19, "slos[1]", "unknown metric 'totals.droped' (did you mean 'dropped'?)"),
]


def invoke(*args: str | Path, stdin: str | None = None) -> Result:
    return runner.invoke(app, [str(a) for a in args], input=stdin)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_reports_every_layer_in_one_round(tmp_path: Path) -> None:
    bad = write(tmp_path, "many.yaml", SIX_LAYERS)
    result = invoke("validate", bad)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    # all eight in one round (before: the node schema first, then the scenario schema, then names)
    assert len(errors) == len(EXPECTED), result.stderr
    for line, field, fragment in EXPECTED:
        assert any(f"{bad}:{line}:" in e and f"{field}: " in e and fragment in e for e in errors), (line, field)
    # faults[1] names 'api', whose config the schema refused: not judged, so no false "unknown node"
    assert "faults[1].node" not in result.stderr


def test_validate_json_has_one_object_per_problem(tmp_path: Path) -> None:
    bad = write(tmp_path, "many.yaml", SIX_LAYERS)
    result = invoke("validate", "--format", "json", bad, TWO_STAGE)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["valid"] is False and doc["strict"] is False
    assert doc["errors"] == len(EXPECTED) and doc["warnings"] == 0
    first, second = doc["files"]
    assert (first["file"], first["valid"], second["valid"]) == (str(bad), False, True)
    assert (second["kind"], second["name"], second["nodes"], second["edges"]) == ("architecture", "two-stage", 3, 2)
    keys = {"file", "line", "column", "field", "message", "fix"}
    assert all(set(e) == keys for e in first["errors"])
    fault = next(e for e in first["errors"] if e["field"] == "faults[0].node")
    assert (fault["line"], fault["column"], fault["fix"]) == (15, 6, "did you mean 'api'?")


def test_each_file_is_validated_and_a_failing_one_does_not_stop_the_next(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "name: x\nnodes: {a: {kind: servce}}\n")
    other = write(tmp_path, "other.yaml", "foo: 1\n")
    result = invoke("validate", bad, TWO_STAGE, other)
    assert result.exit_code == 1
    assert f"✗ {bad}" in result.stderr and f"✗ {other}" in result.stderr
    assert "two-stage" in result.stdout


def test_strict_turns_warnings_into_exit_1_and_each_warning_names_its_file_once() -> None:
    loose = invoke("validate", PEAK)
    assert loose.exit_code == 0
    warnings = [line for line in loose.stderr.splitlines() if line.startswith("warning:")]
    # peak-3x: 0.9/s x 3 = 2.7/s on 2 servers of mean 1s -> rho = 2.7 / 2 = 1.35, said once
    assert len(warnings) == 1 and "rho = 1.35" in warnings[0]
    assert warnings[0].startswith(f"warning: {PEAK}: nodes.api: ")
    assert "two-stage.yaml:7:3" in warnings[0]  # where 'api' is written (line 7, column 3)
    strict = invoke("validate", "--strict", PEAK)
    assert strict.exit_code == 1
    # a failing file gets a cross, not the tick of a valid one followed by a cross
    assert "✓" not in strict.stdout + strict.stderr
    assert f"✗ {PEAK}: scenario 'peak-3x' (3 nodes, 2 edges): fails under --strict (1 warning)" in strict.stderr
    doc = json.loads(invoke("validate", "--strict", "--format", "json", PEAK).stdout)
    assert doc["valid"] is False and doc["warnings"] == 1 and doc["files"][0]["valid"] is True


def test_run_says_an_analytic_warning_once_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # the table report ends with the analytic warnings: on a terminal the warning printed before
    # the run would show twice; to a file or a pipe, stderr keeps it in sight during the run
    args = ("run", PEAK, "--set", "duration=10min", "--set", "warmup=0s")
    piped = invoke(*args)
    assert piped.exit_code == 0
    assert piped.stderr.count("rho = 1.35") == 1 and piped.stdout.count("overloaded (rho = 1.35") == 1
    monkeypatch.setattr("flowsim.cli.run.stdout_is_terminal", lambda: True)
    screen = invoke(*args)
    assert screen.exit_code == 0
    assert "rho = 1.35" not in screen.stderr and screen.stdout.count("overloaded (rho = 1.35") == 1


def test_a_node_idle_by_its_design_start_time_is_a_note_that_strict_passes() -> None:
    # kafka-baseline runs 6 minutes; kappa.yaml starts the replay group at 12 minutes, so replay_job
    # and serving_v2 behind it receive nothing: said as a note (where the node is written), not a warning
    baseline = ROOT / "scenarios" / "kafka-baseline.yaml"
    strict = invoke("validate", "--strict", baseline)
    assert strict.exit_code == 0, strict.stderr
    notes = [line for line in strict.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 2 and "'replay_job' receives nothing in this run" in notes[0]
    assert "kappa.yaml:31:3" in notes[0]  # where replay_job is written
    doc = json.loads(invoke("validate", "--strict", "--format", "json", baseline).stdout)
    assert doc["valid"] is True and doc["warnings"] == 0 and doc["notes"] == 2


def test_warning_in_the_file_itself_is_located_at_its_line(tmp_path: Path) -> None:
    text = TWO_STAGE.read_text(encoding="utf-8").replace("rate: 0.9/s", "rate: 3/s")
    arch = write(tmp_path, "hot.yaml", text)
    result = invoke("validate", "--format", "json", arch)
    warning = json.loads(result.stdout)["files"][0]["warnings"][0]
    # 3/s on 2 servers of mean 1s: rho = 1.5
    assert (warning["file"], warning["line"], warning["column"], warning["field"]) == (str(arch), 7, 3, "nodes.api")
    assert "rho = 1.50" in warning["message"]


def test_validate_reads_stdin_with_paths_from_the_current_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "scenarios")
    text = (ROOT / "scenarios" / "baseline.yaml").read_text(encoding="utf-8")
    result = invoke("validate", "-", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert "<stdin>: scenario 'baseline'" in result.stdout
    monkeypatch.chdir(ROOT)  # from here '../architectures/two-stage.yaml' points outside the project
    moved = invoke("validate", "-", stdin=text)
    assert moved.exit_code == 1
    assert "<stdin>:6:1: architecture: architecture file '../architectures/two-stage.yaml' not found" in moved.stderr


def test_run_and_check_read_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "scenarios")
    text = (ROOT / "scenarios" / "baseline.yaml").read_text(encoding="utf-8")
    result = invoke("run", "-", "--set", "duration=2000s", "--format", "json", "-q", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["scenario"] == "baseline"
    bad = invoke("check", "-", stdin=text.replace("replications: 1", "replications: 0"))
    assert bad.exit_code == 2 and "<stdin>:" in bad.stderr and "replications" in bad.stderr


def test_depends_on_gets_a_located_did_you_mean(tmp_path: Path) -> None:
    text = (ROOT / "architectures" / "lambda.yaml").read_text(encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "depends_on: [extract]" in t)
    arch = write(tmp_path, "lambda.yaml", text.replace("depends_on: [extract]", "depends_on: [extrakt]"))
    result = invoke("validate", arch)
    assert result.exit_code == 1
    assert f"{arch}:{line}:" in result.stderr
    assert "tasks.transform.depends_on[0]: task 'transform' depends on unknown task 'extrakt'" in result.stderr
    assert "(did you mean 'extract'?)" in result.stderr


def test_kinds_json_lists_every_kind_and_its_fields() -> None:
    from flowsim.nodes.registry import kinds

    doc = json.loads(invoke("kinds", "--format", "json").stdout)
    assert [k["kind"] for k in doc["kinds"]] == list(kinds())
    one = json.loads(invoke("kinds", "service", "-f", "json").stdout)["kinds"]
    assert len(one) == 1
    servers = next(f for f in one[0]["fields"] if f["name"] == "servers")
    assert servers["required"] is False and servers["default"] == 1


def test_usage_errors_exit_2() -> None:
    assert invoke("validate").exit_code == 2  # no file
    assert invoke("validate", "--strictly", str(TWO_STAGE)).exit_code == 2
    assert invoke("kinds", "servce", "--format", "json").exit_code == 2
    assert invoke("validate", "--format", "xml", str(TWO_STAGE)).exit_code == 2


COMMANDS = ("run", "check", "validate", "schema", "graph", "kinds", "sweep", "compare")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_names_not_python_types_and_has_examples(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    for noise in ("<bool>", "<path>", "list[", "<int range>"):
        assert noise not in result.stdout, (command, noise)
    assert "Examples" in result.stdout and f"flowsim {command}" in result.stdout.split("Examples", 1)[1]


def test_help_paragraphs_wrap_to_the_terminal_not_to_the_source() -> None:
    """typer's rich mode keeps a docstring's newlines: a paragraph written over two source lines
    broke after 'differ by' at any width. Joined, at 200 columns it is one line."""
    result = runner.invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"})
    assert any("so they differ by design, not by luck" in line for line in result.stdout.splitlines())
    root = runner.invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert "<bool>" not in root.stdout and "--install-completion" in root.stdout


@pytest.mark.slow
def test_version_is_answered_before_typer_and_rich_are_imported() -> None:
    import subprocess
    import sys

    import flowsim

    code = (
        "import sys; sys.argv = ['flowsim', '--version']; from flowsim.cli import main; main(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click', 'pydantic')))"
    )
    src = str(Path(flowsim.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"flowsim {flowsim.__version__}", "[]"]


def test_result_json_carries_its_schema_version() -> None:
    from flowsim.results import RESULT_SCHEMA_VERSION

    result = invoke("run", ROOT / "scenarios" / "baseline.yaml", "--set", "duration=1500s", "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == RESULT_SCHEMA_VERSION == 1
    assert next(iter(doc)) == "schema_version"  # first, so a reader sees it before anything else


def test_graph_json_lists_nodes_with_their_kinds_look_and_the_edges() -> None:
    from flowsim.reports.kind_style import STYLES

    result = invoke("graph", TWO_STAGE, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(n["name"], n["kind"]) for n in doc["nodes"]] == [
        ("arrivals", "source"),
        ("api", "service"),
        ("done", "sink"),
    ]
    assert doc["nodes"][1]["color"] == STYLES["service"].color
    assert [(e["from"], e["to"], e["role"]) for e in doc["edges"]] == [
        ("arrivals", "api", "data"),
        ("api", "done", "data"),
    ]
    assert invoke("graph", TWO_STAGE, "--format", "json", "--out", "design.txt").exit_code == 2  # wrong extension


def test_sweep_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "scenarios")
    text = (
        (ROOT / "scenarios" / "baseline.yaml").read_text(encoding="utf-8").replace("replications: 1", "replications: 0")
    )
    result = invoke("sweep", "-", "-s", "nodes.api.servers=2,3", stdin=text)
    assert result.exit_code == 2  # refused at loading, before any point runs
    assert ":10:15: replications: at every grid point: must be greater than or equal to 1" in result.stderr


def test_schema_has_a_table_for_people_and_json_by_default() -> None:
    # every command takes --format; schema's json is the schema itself, its table the top-level fields
    from typer.testing import CliRunner

    from flowsim.cli import app

    runner = CliRunner()
    as_json = runner.invoke(app, ["schema", "--kind", "scenario"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["$id"] == "urn:flowsim:schema:scenario"
    table = runner.invoke(app, ["schema", "--kind", "architecture", "--format", "table"])
    assert table.exit_code == 0 and "nodes" in table.stdout and "edges" in table.stdout
    assert runner.invoke(app, ["schema", "--format", "yaml"]).exit_code == 2


def test_an_endless_stdin_is_refused_not_read_forever() -> None:
    # `yes 'a: b' | flowsim validate -` never ended; a file is capped at 256 KB, stdin now too
    big = "a: b\n" * 60_000  # 300,000 bytes
    result = invoke("validate", "-", stdin=big)
    assert result.exit_code == 1 and "standard input is too large (over 262144 bytes)" in result.stderr
