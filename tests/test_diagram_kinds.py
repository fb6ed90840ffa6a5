"""Every kind looks like itself in every diagram: one colour and one shape per kind in each format.

The PNG topology is Graphviz's rendering of the DOT text when `dot` is installed (the test of it
skips cleanly otherwise), the matplotlib drawing when not.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import flowsim
from flowsim.nodes.registry import kinds
from flowsim.reports.app_diagram import draw_load_graph
from flowsim.reports.diagram import kind_styles, save_png, to_dot, to_mermaid
from flowsim.reports.kind_style import STYLES

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAMBDA = ROOT / "architectures" / "lambda.yaml"


def test_every_builtin_kind_has_its_own_colour_and_shape_in_each_format() -> None:
    builtin = [k for k, config in kinds().items() if config.__module__.startswith("flowsim.nodes.")]
    assert len(builtin) >= 13 and set(builtin) <= set(STYLES)  # every kind flowsim ships has a look
    for field in ("color", "dot", "mermaid", "marker"):
        values = [getattr(look, field) for look in STYLES.values()]
        assert len(set(values)) == len(STYLES), field  # no two kinds alike in this format
    # the app's load diagram: frame colour and box style together are unique (the colour alone is)
    assert len({(look.color, look.box) for look in STYLES.values()}) == len(STYLES)


def test_dot_and_mermaid_draw_each_node_in_its_kinds_shape_and_colour() -> None:
    arch = flowsim.load_architecture(LAMBDA)
    dot, mermaid = to_dot(arch), to_mermaid(arch)
    for name, config in arch.nodes.items():
        look = STYLES[config.kind]
        line = next(t for t in dot.splitlines() if t.strip().startswith(f'"{name}" [label='))
        assert f"shape={look.dot}," in line and f'fillcolor="{look.color}55"' in line
        left, right = look.mermaid
        assert re.search(re.escape(f'{left}"{name}<br/><i>{config.kind}</i>"{right}'), mermaid), name
        assert f"fill:{look.color}33" in mermaid


def test_the_app_diagram_frames_each_node_in_its_kinds_colour() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "baseline.yaml", overrides={"duration": 1100})
    result = flowsim.simulate(scenario, replications=1)
    figure = Figure()
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    draw_load_graph(ax, scenario.arch, result)
    looks = kind_styles(scenario.arch)
    frames = {t.get_text().split("\n")[0]: t.get_bbox_patch() for t in ax.texts if t.get_bbox_patch() is not None}
    for name, config in scenario.arch.nodes.items():
        assert to_hex(frames[name].get_edgecolor()) == looks[config.kind].color, name


@pytest.mark.slow  # about 4 s of matplotlib on a loaded machine
def test_png_without_graphviz_is_the_matplotlib_drawing(tmp_path: Path) -> None:
    path = tmp_path / "lambda.png"
    assert save_png(flowsim.load_architecture(LAMBDA), path, use_graphviz=False) == "matplotlib"
    assert path.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_png_with_graphviz_when_it_is_installed(tmp_path: Path) -> None:
    path = tmp_path / "lambda.png"
    assert save_png(flowsim.load_architecture(LAMBDA), path) == "graphviz"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height > 100  # laid out left to right, at a readable size
