"""Optional dependencies: what is installed, and the install line when a feature needs what is not.

A CLI-only install leaves out Parquet (pyarrow, ~165 MB), the app (streamlit) and Dask; a
feature that needs one of them says which extra brings it instead of failing on an import.
"""

from __future__ import annotations

import importlib.util

from flowsim.errors import FlowsimError
from flowsim.version import DISTRIBUTION

EXTRAS = {"pyarrow": "parquet", "streamlit": "app", "distributed": "dask"}


def have(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def need(module: str, feature: str) -> None:
    """Refuse `feature` clearly when `module` is not installed."""
    if not have(module):
        extra = EXTRAS.get(module, module)
        raise FlowsimError(f"{feature} needs {module}, which is not installed: pip install '{DISTRIBUTION}[{extra}]'")
