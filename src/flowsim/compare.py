"""Two designs under the same load: paired differences with common random numbers.

Both scenarios run with the same seed and the same replication indices.  Random streams are
derived from (seed, replication, node name, purpose), so sources with the same names and laws
produce exactly the same arrivals in both designs.  The noise shared by the pair then cancels in
the per-replication difference B - A, and a paired-t interval on those differences is far
narrower than two separate intervals: fewer replications tell a real difference from luck.

    >>> from flowsim.compare import compare
    >>> c = compare("scenarios/one-server.yaml", "scenarios/three-servers.yaml", replications=10)
    >>> [d.metric for d in c.differences if d.significant]
"""

from __future__ import annotations

import math
import re
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, PrivateAttr

from flowsim.api import Engine
from flowsim.confidence import student_t_halfwidth
from flowsim.executors import Progress, open_executor
from flowsim.key_figures import unit_of
from flowsim.loading import PathLike, load_scenario
from flowsim.multirun import run_scenarios
from flowsim.results import RunResult
from flowsim.slo import WHOLE_UNITS
from flowsim.spec.scenario import Scenario
from flowsim.sweep import replication_figures

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_REPLICATIONS = 10
#: figures compared (metric paths of `replication_figures`); percentiles other than p99 are left out
_COMPARED = re.compile(
    r"throughput_per_s|totals\.(dropped|dead_lettered|lost)|cost\.per_hour|nodes\.[^.]+\.utilization"
    r"|end_to_end\.[^.]+\.(throughput_per_s|latency_s\.(mean|p99))"
)


class Difference(BaseModel):
    """One figure in both designs, and B - A with its paired 95% confidence interval."""

    metric: str
    a: float = Field(description="mean over replications in design A")
    b: float = Field(description="mean over replications in design B")
    diff: float = Field(description="mean of the per-replication differences B - A")
    ci95: float | None = Field(description="half-width of the paired-t 95% CI on diff (None with 1 replication)")
    relative: float | None = Field(description="diff / a, when a is not 0")
    significant: bool = Field(description="the 95% CI excludes 0")
    pairs: int = Field(description="replications where both designs have the figure")


class Comparison(BaseModel):
    """What `flowsim compare` reports; `model_dump_json()` is its JSON form."""

    a: str
    b: str
    seed: int
    replications: int
    differences: list[Difference]
    warnings: list[str] = Field(default=[])

    _results: tuple[RunResult, RunResult] | None = PrivateAttr(default=None)

    @property
    def results(self) -> tuple[RunResult, RunResult]:
        """The two full results (A, B), for tables and plots beyond the differences."""
        if self._results is None:
            raise ValueError("this comparison was not computed here (it was loaded from JSON)")
        return self._results

    def difference(self, metric: str) -> Difference | None:
        return next((d for d in self.differences if d.metric == metric), None)

    @property
    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([d.model_dump() for d in self.differences])


def compare(
    a: Scenario | PathLike,
    b: Scenario | PathLike,
    replications: int = DEFAULT_REPLICATIONS,
    *,
    seed: int | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    max_events: int | None = None,
    engine: Engine | None = None,
) -> Comparison:
    """Run A and B with common random numbers (A's seed unless `seed` is given) and compare them."""
    first, second = (s if isinstance(s, Scenario) else load_scenario(s) for s in (a, b))
    common = {"seed": first.seed if seed is None else seed, "replications": replications}
    first, second = first.model_copy(update=common), second.model_copy(update=common)
    scenarios = [first, second]
    with open_executor(2 * replications, executor, workers=workers) as pool:
        result_a, result_b = run_scenarios(scenarios, pool, progress, max_events, engine)
    return compare_results(result_a, first, result_b, second)


def compare_results(
    result_a: RunResult,
    scenario_a: Scenario,
    result_b: RunResult,
    scenario_b: Scenario,
    labels: tuple[str, str] | None = None,
) -> Comparison:
    """The paired comparison of two finished runs (what `compare` does once it has run them).

    Replication r of A is paired with replication r of B.  With the same seed that is common
    random numbers; with other seeds the pairs share no randomness, so the interval is wider but
    still honest (said in the warnings).  With other replication counts the first
    min(n_A, n_B) of each are paired, and the warnings say so.
    """
    rows_a, rows_b = replication_figures(result_a, scenario_a), replication_figures(result_b, scenario_b)
    pairs = min(len(rows_a), len(rows_b))
    rows_a, rows_b = rows_a[:pairs], rows_b[:pairs]
    names = _compared(rows_a, rows_b)
    if labels is None:
        name_a, name_b = scenario_a.name, scenario_b.name
        labels = (name_a, name_b) if name_a != name_b else (f"{name_a} (A)", f"{name_b} (B)")
    warnings = same_load_warnings(scenario_a, scenario_b)
    if result_a.seed != result_b.seed:
        warnings.append(
            f"the runs have different seeds ({result_a.seed} and {result_b.seed}): the pairs share no random "
            "numbers, so the intervals are wider than with one seed"
        )
    if result_a.replications != result_b.replications:
        warnings.append(
            f"A has {result_a.replications} replications and B {result_b.replications}: "
            f"the first {pairs} of each are paired"
        )
    comparison = Comparison(
        a=labels[0], b=labels[1], seed=result_a.seed, replications=pairs,
        differences=[paired_difference(m, rows_a, rows_b, _resolution(m, result_a, result_b)) for m in names],
        warnings=warnings,
    )  # fmt: skip
    comparison._results = (result_a, result_b)
    return comparison


def _compared(rows_a: list[dict[str, float]], rows_b: list[dict[str, float]]) -> list[str]:
    """Figures both designs report; the total throughput only when it is not just the one sink's."""
    if not rows_a or not rows_b:
        return []
    names = [m for m in rows_a[0] if _COMPARED.fullmatch(m) and m in rows_b[0]]
    sinks = [m for m in names if m.startswith("end_to_end.") and m.endswith(".throughput_per_s")]
    return [m for m in names if m != "throughput_per_s" or len(sinks) > 1]


def _resolution(metric: str, a: RunResult, b: RunResult) -> float:
    """The smallest difference that means something: half a message between fluid counts (expected
    numbers: 0.0007 drops against 0 is no drop either way) or over the window between fluid
    throughputs, else any."""
    if "fluid" not in (a.engine, b.engine):
        return 0.0
    unit = unit_of(metric, a)
    if unit in WHOLE_UNITS:
        return 0.5
    return 0.5 / a.window_s if unit == "messages/s" else 0.0  # half a message over the window


def paired_difference(
    metric: str, rows_a: list[dict[str, float]], rows_b: list[dict[str, float]], resolution: float = 0.0
) -> Difference:
    """B - A per replication; the paired-t CI is exact zero when the designs agree in every replication
    (a deterministic fluid run: then a difference is significant when it passes `resolution`)."""
    pairs = [(ra[metric], rb[metric]) for ra, rb in zip(rows_a, rows_b, strict=True) if metric in ra and metric in rb]
    pairs = [(x, y) for x, y in pairs if not (math.isnan(x) or math.isnan(y))]
    if not pairs:
        return Difference(metric=metric, a=math.nan, b=math.nan, diff=math.nan, ci95=None,
                          relative=None, significant=False, pairs=0)  # fmt: skip
    diffs = [y - x for x, y in pairs]
    mean_a = sum(x for x, _ in pairs) / len(pairs)
    mean_diff = sum(diffs) / len(diffs)
    spread = student_t_halfwidth(diffs) if len(set(diffs)) > 1 else (0.0 if len(diffs) > 1 else math.nan)
    halfwidth = None if math.isnan(spread) else spread
    return Difference(
        metric=metric, a=mean_a, b=sum(y for _, y in pairs) / len(pairs), diff=mean_diff, ci95=halfwidth,
        relative=mean_diff / mean_a if mean_a else None,
        significant=halfwidth is not None and abs(mean_diff) > max(halfwidth, resolution), pairs=len(pairs),
    )  # fmt: skip


def same_load_warnings(a: Scenario, b: Scenario) -> list[str]:
    """What keeps the comparison from being like for like: other horizons, load, or arrivals."""
    warnings = []
    for label, x, y in (("duration", a.duration, b.duration), ("warmup", a.warmup, b.warmup),
                        ("load multiplier", a.load.multiplier, b.load.multiplier)):  # fmt: skip
        if x != y:
            warnings.append(f"the designs differ in {label} ({x:g} vs {y:g}): not the same load")
    sources_a, sources_b = _sources(a), _sources(b)
    if sources_a != sources_b:
        differ = sorted(n for n in sources_a.keys() | sources_b.keys() if sources_a.get(n) != sources_b.get(n))
        warnings.append(
            "sources differ (" + ", ".join(differ) + "): arrivals are not common to both designs, "
            "so differences are noisier"
        )
    return warnings


def _sources(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """Each source's arrival-shaping fields (price and description do not change arrivals)."""
    return {
        name: config.model_dump(exclude={"price", "description"})
        for name, config in scenario.arch.nodes.items()
        if not config.takes_input
    }
