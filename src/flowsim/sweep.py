"""Parameter sweeps: run a scenario over a grid of overrides and pick the design that wins.

A grid maps dotted override paths (the same paths as `--set`: `nodes.api.servers`,
`load.multiplier`, `nodes.api.price.per_hour`) to lists of values; every combination is a
point.  Each point is loaded with `load_scenario(path, overrides=point)`, so a bad value is
reported with the point that holds it, before anything runs.  All points' replications go
through one executor (see `flowsim.executors`), and the numbers do not depend on which.

`sweep` is `plan_sweep` (load and check every point and the objective: nothing runs) followed
by `run_sweep`; callers that report mistakes before running, or size an executor to the work,
call the two themselves.  Writing the plots of a sweep is the reports layer's business
(`flowsim.reports.export.write_sweep_outputs`); nothing here draws.

    >>> from flowsim.sweep import sweep
    >>> result = sweep("scenarios/baseline.yaml", {"nodes.api.servers": [1, 2, 3]}, replications=5)
    >>> result.table                       # one row per point, figures with _ci95 columns
    >>> result.best()                      # the cheapest point meeting every SLO
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from flowsim.api import Engine
from flowsim.errors import FlowsimError
from flowsim.executors import Progress, open_executor
from flowsim.loading import PathLike, load_scenario
from flowsim.metric_paths import check_metric
from flowsim.multirun import run_scenarios
from flowsim.optional import have, need
from flowsim.results import RunResult, mean_and_ci, percentiles
from flowsim.spec.scenario import Scenario
from flowsim.sweep_grid import Grid, expand_grid, load_points, point_label, value_text

if TYPE_CHECKING:
    import pandas as pd

TableFormat = Literal["csv", "parquet"]
DEFAULT_OBJECTIVE = "min cost.per_hour"
CI = "_ci95"
_STATS = ("mean", "p50", "p95", "p99")
#: table figures that are not result paths (the rest are named by their `RunResult.metric` path)
DERIVED_FIGURES = ("throughput_per_s", "max_utilization")


# ---- planning and running -----------------------------------------------------------------
@dataclass(frozen=True)
class SweepPlan:
    """A sweep ready to run: every point loaded and validated, the objective checked, nothing run.

    Planning apart from running lets a caller report every input mistake before spending any
    time, and size an executor to the work (`jobs`).
    """

    parameters: list[str]
    points: list[dict[str, Any]]
    scenarios: list[Scenario]
    objective: str | None = None

    @property
    def jobs(self) -> int:
        """Replications over all points: the work an executor is sized for."""
        return sum(s.replications for s in self.scenarios)


MAX_POINTS_FLOOR = 100  # grids this small are never refused, so the scenario is not read for its limit


def plan_sweep(
    scenario_path: PathLike,
    grid: Grid | Sequence[Mapping[str, Any]],
    replications: int | None = None,
    *,
    seed: int | None = None,
    objective: str | None = None,
) -> SweepPlan:
    """Load the scenario at every grid point (a mapping of paths to value lists, or explicit points).

    Every invalid point is reported at once, each named; an `objective` that names no figure
    the sweep will have is refused here too, before anything runs.
    """
    if isinstance(grid, Mapping) and not grid:
        raise FlowsimError("the sweep has no grid: give at least one parameter, e.g. --set nodes.api.servers=1,2,4")
    count = math.prod(len(v) for v in grid.values()) if isinstance(grid, Mapping) else len(grid)
    limit = load_scenario(scenario_path).limits.max_points if count > MAX_POINTS_FLOOR else count
    if count > limit:
        sizes = " x ".join(str(len(v)) for v in grid.values()) if isinstance(grid, Mapping) else str(count)
        raise FlowsimError(
            f"the sweep has {count:,} points ({sizes}), over the limit of {limit:,}; use fewer values, "
            "or raise the limit in the scenario ('limits: {max_points: N}') if you mean it"
        )
    points = expand_grid(grid) if isinstance(grid, Mapping) else [dict(p) for p in grid]
    if not points:
        raise FlowsimError("the sweep has no points: give each parameter at least one value")
    scenarios = load_points(scenario_path, points, seed, replications)
    if objective is not None:
        check_objective(objective, scenarios[0])
    parameters = list(grid) if isinstance(grid, Mapping) else list(dict.fromkeys(k for p in points for k in p))
    return SweepPlan(parameters, points, scenarios, objective)


def run_sweep(
    plan: SweepPlan,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    max_events: int | None = None,
    engine: Engine | None = None,
) -> SweepResult:
    """Run every point of `plan` on `executor`, or on the one `flowsim.executors` picks for `workers`.

    Replication r of every point uses the same seed, so points differ by design, not by luck
    (common random numbers).  Sizes are checked before anything runs.  Each point runs on the
    engine `simulate` would choose for it; `engine` wins over the scenario's `engine`.
    """
    with open_executor(plan.jobs, executor, workers=workers) as pool:
        results = run_scenarios(plan.scenarios, pool, progress, max_events, engine)
    swept = [SweepPoint(dict(p), s, r) for p, s, r in zip(plan.points, plan.scenarios, results, strict=True)]
    return SweepResult(list(plan.parameters), swept)


def sweep(
    scenario_path: PathLike,
    grid: Grid | Sequence[Mapping[str, Any]],
    replications: int | None = None,
    *,
    seed: int | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    max_events: int | None = None,
    engine: Engine | None = None,
) -> SweepResult:
    """Run the scenario at every grid point: `run_sweep(plan_sweep(...))`.

    Without an `executor`, runs go to a local process pool of `workers` (default: all cores);
    `workers=1` runs in this thread.
    """
    plan = plan_sweep(scenario_path, grid, replications, seed=seed)
    return run_sweep(plan, executor=executor, workers=workers, progress=progress, max_events=max_events, engine=engine)


# ---- figures -------------------------------------------------------------------------------
def dead_letter_sinks(scenario: Scenario) -> set[str]:
    return {t for c in scenario.arch.nodes.values() for t in c.node_references().values()}


def replication_figures(result: RunResult, scenario: Scenario) -> list[dict[str, float]]:
    """The figures a sweep or a comparison reports, once per replication, named by metric path.

    Throughputs count messages (an item of batch n counts n), as `EndToEnd.throughput_per_s` does.
    """
    arch = scenario.arch
    window = scenario.window
    sinks = [n for n, c in arch.nodes.items() if not c.gives_output]
    delivering = [s for s in sinks if s not in dead_letter_sinks(scenario)]
    cost = result.cost
    rows = []
    for out in result._outputs:
        row: dict[str, float] = {
            "throughput_per_s": sum(out.figures[s]["completed"] for s in delivering) / window,
            "totals.dropped": sum(f.get("dropped", 0.0) for f in out.figures.values()),
            "totals.dead_lettered": sum(f.get("dead_lettered", 0.0) for f in out.figures.values()),
            "totals.lost": sum(f.get("lost", 0.0) for f in out.figures.values()),  # retention, expiry
        }
        for sink in sinks:
            stats = percentiles(out.latencies[sink])
            row[f"end_to_end.{sink}.throughput_per_s"] = out.figures[sink]["completed"] / window
            row |= {f"end_to_end.{sink}.latency_s.{k}": stats[k] for k in _STATS if k in stats}
        utilization = {n: f["utilization"] for n, f in out.figures.items() if "utilization" in f}
        if utilization:
            row["max_utilization"] = max(utilization.values())
        row |= {f"nodes.{n}.utilization": u for n, u in utilization.items()}
        if cost is not None:
            row |= {"cost.per_hour": cost.per_hour, "cost.total": cost.total}
        rows.append(row)
    return rows


@dataclass
class SweepPoint:
    """One grid point: the overrides, the scenario they made, and its aggregated result."""

    params: dict[str, Any]
    scenario: Scenario
    result: RunResult

    @property
    def label(self) -> str:
        return point_label(self.params)

    def row(self) -> dict[str, Any]:
        """The point as one tidy-table row: parameters, then figures each followed by its CI."""
        means, halfwidths = mean_and_ci(replication_figures(self.result, self.scenario))
        result = self.result
        row: dict[str, Any] = dict(self.params)
        row |= {"replications": result.replications, "seed": result.seed, "engine": result.engine,
                "slo_passed": result.passed(),
                "slos_failed": sum(not v.passed for v in result.slos),
                "slo_uncertain": any(v.uncertain for v in result.slos)}  # fmt: skip
        for name in _ordered(means):
            row[name] = means[name]
            row[name + CI] = halfwidths.get(name, math.nan)
        row["bottleneck"] = result.analysis.bottleneck
        return row


def _ordered(names: Mapping[str, float]) -> list[str]:
    """Cost first, then throughput, latency, losses, utilization: the order people read a trade-off."""
    heads = ("cost.", "throughput_per_s", "end_to_end.", "totals.", "max_utilization", "nodes.")
    return sorted(names, key=lambda n: (next((i for i, h in enumerate(heads) if n.startswith(h)), 99), n))


@dataclass
class SweepResult:
    """Every point of a sweep, as objects (`points`) and as one tidy table (`table`)."""

    parameters: list[str]
    points: list[SweepPoint]
    notes: list[str] = field(default_factory=list)

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per point: parameter columns (named by path), figures, `<figure>_ci95`, SLO verdicts."""
        import pandas as pd

        frame = pd.DataFrame([p.row() for p in self.points])
        for name in self.parameters:
            frame[name] = _column(frame[name])
        return frame

    def best(self, objective: str | None = None) -> SweepPoint | None:
        """The point meeting every SLO that optimises `objective` ("min cost.per_hour" by default).

        `objective` is "min <figure>" or "max <figure>", a table column or any result path such as
        `end_to_end.done.latency_s.p99`.  Ties go to the earlier point; None when no point passes.
        """
        index = self.best_index(objective)
        return None if index is None else self.points[index]

    def best_index(self, objective: str | None = None) -> int | None:
        """The position of `best(objective)` in `points` (and in `table`)."""
        sense, values = self.objective_values(objective)
        passing = [i for i, p in enumerate(self.points) if p.result.passed() and not math.isnan(values[i])]
        if not passing:
            return None
        pick = min if sense == "min" else max
        return pick(passing, key=lambda i: values[i])

    def objective_values(self, objective: str | None) -> tuple[str, list[float]]:
        """('min' or 'max', the objective's value at each point, NaN where it is missing)."""
        sense, name = parse_objective(objective)
        if name in self.table.columns and self.table[name].dtype.kind in "fiu":
            return sense, [float(v) for v in self.table[name]]
        values = [p.result.metric(name) for p in self.points]
        if all(v is None for v in values):
            close = difflib.get_close_matches(name, [str(c) for c in self.table.columns], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "; e.g. 'min cost.per_hour'"
            raise FlowsimError(f"objective figure '{name}' is not in the results{hint}")
        return sense, [math.nan if v is None else v for v in values]

    def write(self, out_dir: PathLike, formats: Sequence[TableFormat] | None = None) -> list[Path]:
        """Write the table as sweep.csv and/or sweep.parquet (the plots: `reports.export.write_sweep_outputs`).

        By default both, or only the CSV where pyarrow is not installed (the `parquet` extra).
        """
        formats = formats if formats is not None else ("csv", "parquet") if have("pyarrow") else ("csv",)
        if "parquet" in formats:
            need("pyarrow", "writing sweep.parquet")
        out = Path(out_dir)
        written: list[Path] = []
        try:
            out.mkdir(parents=True, exist_ok=True)
            for fmt in formats:
                path = out / f"sweep.{fmt}"
                if fmt == "parquet":
                    self.table.to_parquet(path, engine="pyarrow", index=False)
                else:
                    self.table.to_csv(path, index=False)
                written.append(path)
        except OSError as exc:
            raise FlowsimError(f"cannot write sweep outputs to {exc.filename or out}: {exc.strerror or exc}") from None
        return written

    def records(self) -> list[dict[str, Any]]:
        """The table as JSON-ready rows (NaN becomes None)."""
        return [
            {str(k): None if isinstance(v, float) and math.isnan(v) else _plain(v) for k, v in row.items()}
            for row in self.table.to_dict(orient="records")
        ]


def parse_objective(text: str | None) -> tuple[str, str]:
    """'min cost.per_hour' -> ('min', 'cost.per_hour'); a bare figure is minimised."""
    words = (text if text is not None else DEFAULT_OBJECTIVE).split()
    if len(words) == 1:
        return "min", words[0]
    if len(words) == 2 and words[0] in ("min", "max"):
        return words[0], words[1]
    raise FlowsimError(
        f"cannot read objective {text!r}; write 'min <figure>' or 'max <figure>', e.g. '{DEFAULT_OBJECTIVE}'"
    )


def check_objective(objective: str | None, scenario: Scenario) -> None:
    """Fail before running when the objective names no figure a sweep of `scenario` will have."""
    _, name = parse_objective(objective)
    if name in DERIVED_FIGURES or name.removesuffix(CI) in DERIVED_FIGURES:
        return
    message, hint = check_metric(name, scenario.arch)
    if message:
        raise FlowsimError(f"objective: {message}" + (f" ({hint})" if hint else ""))
    if name.startswith("cost.") and all(config.price is None for config in scenario.arch.nodes.values()):
        sinks = [n for n, c in scenario.arch.nodes.items() if not c.gives_output]
        instead = f"min end_to_end.{sinks[0]}.latency_s.p99" if sinks else "min <figure>"
        raise FlowsimError(
            f"objective: no node has a price, so every point costs 0 and '{name}' cannot pick one; give the nodes "
            f"a price (price: {{per_hour: 0.10}}) or optimise another figure, e.g. --objective '{instead}'"
        )


def _column(values: pd.Series) -> pd.Series:
    """Parameter values as one Parquet-friendly type: numbers stay numbers, anything else is text."""
    items = list(values)
    if all(isinstance(v, bool) for v in items) or all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in items
    ):
        return values
    return values.map(value_text)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, for json.dumps."""
    return value.item() if isinstance(value, np.generic) else value
