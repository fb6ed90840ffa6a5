"""Test-wide settings.

Hypothesis runs a deterministic profile by default: the same examples on every run and machine,
no example database, and no per-example deadline (a busy machine must not fail a test by time).
`HYPOTHESIS_PROFILE=explore python3 -m pytest` hunts instead: random examples, more of them
where a test does not fix its own `max_examples`, with failures remembered in `.hypothesis/`.
The trace helpers the tests share live in `tests/helpers.py`.
The app's page runs (AppTest) do not warm its cache of first looks in the test process
(`FLOWSIM_APP_WARM=0`): a background thread there would take the CPU from the tests around it;
the browser tests turn it on for their server, which runs the app as shipped.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
os.environ.setdefault("FLOWSIM_APP_WARM", "0")
