"""First looks of the shipped scenarios computed ahead, while no page is busy, into the result cache.

A first look costs 0.1-1.3 s of simulation on one core (more on a busy machine), and the page's
key figures wait for it.  Once the server has drawn its first page, one background thread runs
every shipped scenario's first look, exactly as the page would ask for it (same text, overrides,
seed and replications: the same `RunRequest`, so the same result), and stores it in
`jobs.FIRST_LOOKS`; a pick then finds its result there.  The thread works only while no page script
runs: it waits for a quiet second before each scenario, and a page that starts mid-run stops its
simulation at the next chunk of events (`simulate(stop=...)`), to run it again later.  Nothing of
it is random or global: the results are those the page would compute itself.

No Streamlit here, so the warming is tested on its own.  `FLOWSIM_APP_WARM=0` turns it off.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

import flowsim
from flowsim.app.activity import ACTIVITY, PageActivity
from flowsim.app.jobs import FIRST_LOOKS, RATES, budget_per_replication, cached, estimate

QUIET_S = 1.0  # a page script must have ended this long ago before a first look starts
POLL_S = 0.1
Item = tuple[object, flowsim.Scenario]  # the cache key (the page's RunRequest) and the scenario it runs


def warm_one(key: object, scenario: flowsim.Scenario, activity: PageActivity = ACTIVITY) -> bool:
    """Run one first look into the cache unless it is there; False when a page interrupted it."""
    if cached(key) is not None:
        return True
    budget = budget_per_replication(scenario)
    guess = estimate(scenario, budget)
    started = time.monotonic()
    try:
        result = flowsim.simulate(scenario, seed=scenario.seed, replications=scenario.replications,
                                  max_events=budget, stop=lambda: activity.busy)  # fmt: skip
    except flowsim.Cancelled:
        return False
    except flowsim.FlowsimError:
        return True  # the page will say why when the scenario is picked
    RATES.learn(scenario.name, guess.engine, guess.work, time.monotonic() - started)
    FIRST_LOOKS.put(key, result)
    return True


def warm_all(items: Iterable[Item], activity: PageActivity = ACTIVITY, quiet: float = QUIET_S) -> int:
    """Each item's first look into the cache, each started after `quiet` s without a page script;
    returns how many are in the cache at the end."""
    done = 0
    for key, scenario in items:
        while True:
            while activity.quiet_for() < quiet:
                time.sleep(POLL_S)
            if warm_one(key, scenario, activity):
                break
        done += cached(key) is not None
    return done


_STARTED = threading.Event()


def start_once(items: Callable[[], Iterable[Item]]) -> threading.Thread | None:
    """Warm the cache in a daemon thread, once per server (None: already started, or turned off)."""
    if os.environ.get("FLOWSIM_APP_WARM", "1") == "0" or _STARTED.is_set():
        return None
    _STARTED.set()
    thread = threading.Thread(target=lambda: warm_all(items()), name="flowsim-warm", daemon=True)
    thread.start()
    return thread
