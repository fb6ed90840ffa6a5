"""A package adds its own node kinds through the `flowsim.kinds` entry point, touching no flowsim file.

The package is written to a temporary directory with its distribution metadata (an installed
package's `entry_points.txt`), and flowsim runs in a subprocess with that directory on the path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test starts flowsim in fresh interpreters

PLUGIN = '''
"""Two kinds of a third-party package: one that works, one that forgets a duty."""

from typing import Any, Literal

from pydantic import Field

from flowsim.engine.holding import HoldingRuntime
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig
from flowsim.units import Duration


class EchoConfig(NodeConfig):
    """Models: a hop that holds every item for `hold`, then passes it on.

    Leaves out: everything else.
    """

    summary = "holds each item for `hold`, then passes it on (a plugin kind)"
    kind: Literal["echo"]
    hold: Duration = Field(1.0, gt=0, description="how long each item is held")

    def runtime_class(self) -> type[NodeRuntime]:
        return EchoNode


class EchoNode(HoldingRuntime):
    def try_put(self, item: Any) -> bool:
        self.admit(item)
        self.env.timeout(self.config.hold, item).callbacks.append(self._held)
        return True

    def _held(self, event: Any) -> None:
        self.pass_on(event.value)


class FlakyConfig(NodeConfig):
    """Models: a node that says it can fail but has no outage hooks."""

    summary = "declares can_fail without on_down / on_up"
    can_fail = True
    kind: Literal["flaky"]

    def runtime_class(self) -> type[NodeRuntime]:
        return FlakyNode


class FlakyNode(HoldingRuntime):
    def try_put(self, item: Any) -> bool:
        self.admit(item)
        self.pass_on(item)
        return True
'''

SCENARIO = """
name: plugin
architecture:
  name: with-plugin
  nodes:
    src: {kind: source, interarrival: 1s}
    hop: {kind: KIND, EXTRA}
    done: {kind: sink}
  edges: [src -> hop, hop -> done]
duration: 100s
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    (root / "echo_kinds").mkdir()
    (root / "echo_kinds" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    meta = root / "echo_kinds-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-kinds\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text(
        "[flowsim.kinds]\necho = echo_kinds:EchoConfig\nflaky = echo_kinds:FlakyConfig\n"
    )
    return root


def flowsim_cli(plugin: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]))
    code = "import sys; from flowsim.cli import main; sys.argv = ['flowsim', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_a_plugin_kind_is_listed_has_a_schema_and_runs(plugin_path: Path, tmp_path: Path) -> None:
    listed = flowsim_cli(plugin_path, "kinds", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "echo" in listed.stdout and "plugin kind" in listed.stdout

    schema = flowsim_cli(plugin_path, "schema", "--kind", "architecture", cwd=tmp_path)
    assert schema.returncode == 0 and '"echo"' in schema.stdout

    scenario = tmp_path / "plugin.yaml"
    scenario.write_text(SCENARIO.replace("KIND", "echo").replace("EXTRA", "hold: 2s"))
    ran = flowsim_cli(plugin_path, "run", str(scenario), "--format", "json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    hop = result["nodes"]["hop"]
    # arrivals at 1, 2, ..., 99 s; each held 2 s: the ones born at 99 and 98 are still inside at 100
    assert (hop["kind"], hop["arrivals"], hop["completed"], hop["inside_at_end"]) == ("echo", 99, 97, 2)
    assert hop["sojourn_s"]["mean"] == pytest.approx(2.0)


def test_a_plugin_kind_missing_a_declared_duty_is_refused_with_its_name(plugin_path: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "flaky.yaml"
    scenario.write_text(SCENARIO.replace("KIND", "flaky").replace(", EXTRA", ""))
    ran = flowsim_cli(plugin_path, "run", str(scenario), cwd=tmp_path)
    assert ran.returncode == 2
    assert "flaky.yaml:7:" in ran.stderr + ran.stdout  # located at the node, before anything runs
    assert "node 'hop' (kind 'flaky')" in ran.stderr + ran.stdout
    assert "can fail, but on_down is not implemented" in ran.stderr + ran.stdout
    assert "Traceback" not in ran.stderr
