"""One look per node kind, shared by every diagram: a colour and a shape in each format.

Each built-in kind gets its own colour and, in each format, its own shape (Mermaid, Graphviz,
matplotlib markers), so a kind is recognised by either alone; a new kind adds its row here.  The app's load diagram
fills nodes by load, so there the kind shows as the frame's colour and box style.  A plugin kind
gets a colour from a spare palette and the plain shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
from matplotlib.colors import to_hex


@dataclass(frozen=True)
class KindStyle:
    color: str  # hex
    dot: str  # Graphviz node shape
    mermaid: tuple[str, str]  # the brackets around a Mermaid node's label
    marker: str  # matplotlib marker of the PNG drawing without Graphviz
    box: str  # matplotlib box style of the app's load diagram


STYLES: dict[str, KindStyle] = {
    "source": KindStyle("#2ca02c", "invhouse", ("([", "])"), ">", "rarrow"),
    "sink": KindStyle("#7f7f7f", "cylinder", ("[(", ")]"), "o", "round"),
    "service": KindStyle("#1f77b4", "box", ("[", "]"), "s", "square"),
    "delay": KindStyle("#bcbd22", "hexagon", ("{{", "}}"), "h", "sawtooth"),
    "kafka_topic": KindStyle("#ff7f0e", "cds", ("[[", "]]"), "D", "darrow"),
    "stream_processor": KindStyle("#9467bd", "octagon", ("[/", "/]"), "p", "roundtooth"),
    "airflow_dag": KindStyle("#17becf", "tab", ("[\\", "\\]"), "^", "round4"),
    "warehouse": KindStyle("#8c564b", "folder", ("[/", "\\]"), "8", "square"),
    "feature_store": KindStyle("#e377c2", "box3d", ("[\\", "/]"), "H", "round"),
    "training": KindStyle("#d62728", "component", ("(", ")"), "v", "round4"),
    "model_registry": KindStyle("#393b79", "note", (">", "]"), "d", "larrow"),
    "model_serving": KindStyle("#637939", "house", ("((", "))"), "*", "circle"),
    "drift_monitor": KindStyle("#e7ba52", "diamond", ("{", "}"), "X", "sawtooth"),
    "data_quality": KindStyle("#17a589", "septagon", ("(((", ")))"), "P", "ellipse"),
}
_PLAIN = ("box", ("[", "]"), "s", "square")


def style(kind: str, index: int = 0) -> KindStyle:
    """The look of `kind`; a kind not listed (a plugin) takes the `index`-th spare colour."""
    if kind in STYLES:
        return STYLES[kind]
    used = {s.color for s in STYLES.values()}
    spare = [c for c in (to_hex(x) for x in matplotlib.colormaps["tab20b"].colors) if c not in used]  # type: ignore[attr-defined]
    return KindStyle(spare[index % len(spare)], *_PLAIN)
