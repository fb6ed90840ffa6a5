"""Start-up of the command and the package: `python -m flowsim` works, exits with the documented
codes, and loads only what a command needs (checked by module name, never by the clock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flowsim

pytestmark = pytest.mark.slow  # each test starts flowsim in fresh interpreters

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(flowsim.__file__).resolve().parents[1]  # the flowsim these tests import, also in children
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SHORT = ["--set", "duration=2000s"]
PRESENTATION = {"matplotlib", "pandas", "pyarrow", "streamlit"}
#: what simulating needs (pydantic is not here: typer itself uses it to convert options)
SIMULATOR = {"numpy", "networkx", "simpy", "flowsim.api", "flowsim.loading", "flowsim.spec"}
#: runs `python -m flowsim` with the given argv, then reports every module it loaded on stderr
REPORT_MODULES = """
import json, runpy, sys
sys.argv = ["flowsim", *json.loads(sys.argv[1])]
try:
    runpy.run_module("flowsim", run_name="__main__", alter_sys=True)
finally:
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def flowsim_modules(*argv: str | Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the command in a fresh interpreter; its result and the names of the modules it loaded."""
    done = python("-c", REPORT_MODULES, json.dumps([str(a) for a in argv]))
    marker = done.stderr.rindex("MODULES ")
    modules = set(json.loads(done.stderr[marker + len("MODULES ") :]))
    return done, modules


def roots(modules: set[str]) -> set[str]:
    """Top-level packages, plus flowsim's own modules by full name."""
    return {m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("flowsim")}


def test_python_m_flowsim_help() -> None:
    done = python("-m", "flowsim", "--help")
    assert done.returncode == 0, done.stderr
    for command in ("run", "check", "validate", "schema", "graph", "kinds", "sweep", "compare"):
        assert command in done.stdout


def test_version_and_help_load_no_simulator() -> None:
    for argv in (["--version"], ["--help"], ["run", "--help"]):
        done, modules = flowsim_modules(*argv)
        assert done.returncode == 0, done.stderr
        assert not roots(modules) & (SIMULATOR | PRESENTATION), argv
    done, _ = flowsim_modules("--version")
    assert done.stdout.startswith(f"flowsim {flowsim.__version__}")


def test_json_run_loads_no_plotting_or_table_libraries() -> None:
    done, modules = flowsim_modules("run", BASELINE, *SHORT, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scenario"] == "baseline"
    assert "flowsim.api" in modules  # it did simulate
    assert not roots(modules) & PRESENTATION
    assert not {m for m in modules if m.startswith(("flowsim.reports", "flowsim.app", "flowsim.sweep"))}
    # nothing printed but the document: rich is not loaded at all (the help's markup is escaped without it)
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}
    assert "numpy.ma" not in modules


def test_a_run_imports_only_the_kinds_its_file_uses() -> None:
    """baseline.yaml uses source, service and sink: no other kind's module is imported or built."""
    done, modules = flowsim_modules("run", BASELINE, *SHORT, "--format", "json")
    assert done.returncode == 0, done.stderr
    kinds = {m.rsplit(".", 1)[1] for m in modules if m.startswith("flowsim.nodes.") and m.count(".") == 2}
    assert {k for k in kinds if not k.startswith("_")} == {"base", "registry", "source", "service", "sink"}
    assert {k for k in kinds if k.startswith("_")} <= {"_airflow_installation"}  # the architecture's `airflow:` block
    done, modules = flowsim_modules("kinds", "--markdown")  # listing them loads them all
    assert done.returncode == 0, done.stderr
    assert {"flowsim.nodes.kafka_topic", "flowsim.nodes.airflow_dag", "flowsim.nodes.training"} <= modules


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["run", "missing.yaml"], 2),  # invalid input: refused
        (["run", str(BASELINE), "--max-events", "10", "--engine", "per_message"], 2),  # run too large: refused
        (["run"], 2),  # usage: no scenario
        (["check", "missing.yaml"], 2),  # refused, not an SLO failure (1)
        (["run", str(BASELINE), "--format", "xml"], 2),  # usage: no such format
    ],
)
def test_exit_codes_of_the_process(argv: list[str], code: int) -> None:
    done = python("-m", "flowsim", *argv)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr


def test_domain_modules_import_no_presentation() -> None:
    done = python("-c", "import json, sys, flowsim.sweep, flowsim.compare; print(json.dumps(sorted(sys.modules)))")
    modules = set(json.loads(done.stdout))
    assert not roots(modules) & PRESENTATION
    assert not {m for m in modules if m.startswith(("flowsim.reports", "flowsim.cli", "flowsim.app"))}


def test_import_flowsim_is_lazy_and_keeps_its_names() -> None:
    done = python("-c", "import json, sys, flowsim; print(json.dumps(sorted(sys.modules)))")
    assert not roots(set(json.loads(done.stdout))) & (SIMULATOR | PRESENTATION | {"pydantic"})
    import flowsim.compare
    import flowsim.sweep

    assert flowsim.sweep is sys.modules["flowsim.sweep"].sweep  # the function, not the submodule
    assert flowsim.compare is sys.modules["flowsim.compare"].compare
    for name in flowsim.__all__:
        assert getattr(flowsim, name) is not None and name in dir(flowsim)
    with pytest.raises(AttributeError):
        _ = flowsim.no_such_name
