"""The installed version, found without importing the simulator, so `flowsim --version` is instant.

The distribution is `flowsim-arch` (the name `flowsim` on the public package index belongs to
an unrelated project); the import name and the `flowsim` command are `flowsim`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "flowsim-arch"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
