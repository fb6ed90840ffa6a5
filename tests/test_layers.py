"""Layers only import downward, and no module reads another module's private names.

The kernel (`flowsim.engine`) imports nothing from the YAML layer, the kinds or presentation;
domain modules never import plotting; `_names` stay inside the module that defines them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "flowsim"
PRESENTATION = ("flowsim.reports", "flowsim.cli", "flowsim.app", "matplotlib", "streamlit")
RULES: dict[str, tuple[str, ...]] = {
    "engine": ("flowsim.spec", "flowsim.nodes", "flowsim.build", "flowsim.loading", "flowsim.api",
               "flowsim.results", "flowsim.distributions", "pandas", *PRESENTATION),
    "nodes": ("flowsim.spec", "flowsim.build", "flowsim.loading", "flowsim.api", "flowsim.results", *PRESENTATION),
    "spec": ("flowsim.engine", "flowsim.build", "flowsim.api", "flowsim.results", *PRESENTATION),
    "analysis": ("flowsim.api", "flowsim.results", *PRESENTATION),
    "results.py": PRESENTATION,
    "api.py": PRESENTATION,
    "build.py": PRESENTATION,
    "loading.py": PRESENTATION,
    "sweep.py": PRESENTATION,
    "compare.py": PRESENTATION,
    "executors.py": PRESENTATION,
    "key_figures.py": PRESENTATION,
    "metric_paths.py": PRESENTATION,
}  # fmt: skip


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every import in a file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
    return found


def files(part: str) -> list[Path]:
    target = SRC / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("part", sorted(RULES))
def test_layer_imports_only_downward(part: str) -> None:
    banned = RULES[part]
    wrong = [
        f"{path.relative_to(SRC)}:{line} imports {module}"
        for path in files(part)
        for module, _, line in imports(path)
        if any(module == b or module.startswith(b + ".") for b in banned)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_reads_another_modules_private_names() -> None:
    wrong = [
        f"{path.relative_to(SRC)}:{line} imports {name} from {module}"
        for path in sorted(SRC.rglob("*.py"))
        for module, names, line in imports(path)
        if module.startswith("flowsim")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_kernel_loads_without_the_yaml_layer_or_any_kind() -> None:
    code = (
        "import sys; import flowsim.engine.model, flowsim.engine.pool, flowsim.engine.flow; "
        "print(sorted(m for m in sys.modules if m.startswith(('flowsim.spec', 'flowsim.nodes', 'flowsim.loading'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
