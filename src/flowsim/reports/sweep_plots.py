"""Trade-off plots of a sweep table: a figure against a parameter, and latency against cost.

Like `reports.plots`, each function draws on an Axes it is given and returns it, and nothing
touches pyplot (explicit Agg canvases: thread-safe, the caller's backend is left alone).
Functions take the tidy table (`SweepResult.table`), so they work on a reloaded sweep.csv too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from flowsim.reports.sweep_tables import primary_latency

CI = "_ci95"
COST = "cost.per_hour"
MAX_LABELLED_POINTS = 20


def _is_numeric(values: pd.Series) -> bool:
    return values.dtype.kind in "fiu"


def _auto_log(ax: Axes, values: pd.Series) -> None:
    """A log y axis when positive values span more than 100x (fast and overloaded designs together)."""
    positive = values[values > 0]
    if len(positive) == len(values.dropna()) and len(positive) > 1 and positive.max() > 100 * positive.min():
        ax.set_yscale("log")


def _group_label(key: tuple[object, ...], others: Sequence[str]) -> str:
    return ", ".join(f"{name.split('.')[-1]}={value}" for name, value in zip(others, key, strict=True))


def figure_vs_parameter(
    ax: Axes, table: pd.DataFrame, parameter: str, figure: str, parameters: Sequence[str] = ()
) -> Axes:
    """`figure` (mean, 95% CI bars) against `parameter`: one line per combination of the other parameters."""
    others = [p for p in parameters if p != parameter and p in table.columns]
    numeric = _is_numeric(table[parameter])
    categories = list(dict.fromkeys(table[parameter]))
    groups = table.groupby(others, sort=False, dropna=False) if others else [((), table)]
    for key, group in groups:
        group = group.sort_values(parameter) if numeric else group
        x = group[parameter] if numeric else group[parameter].map(categories.index)
        errors = group[figure + CI] if figure + CI in group.columns else None
        label = _group_label(key if isinstance(key, tuple) else (key,), others) if others else None
        ax.errorbar(x, group[figure], yerr=errors, marker="o", capsize=3, label=label)
    if not numeric:
        ax.set_xticks(range(len(categories)), [str(c) for c in categories])
    _auto_log(ax, table[figure])
    ax.set_xlabel(parameter)
    ax.set_ylabel(figure)
    ax.set_title(f"{figure} by {parameter}")
    ax.grid(True, alpha=0.3)
    if others:
        ax.legend(fontsize="small", loc="best")
    return ax


def pareto_front(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats on both (lower cost and lower value, one strictly)."""
    cost, value = np.asarray(cost, dtype=float), np.asarray(value, dtype=float)
    valid = ~(np.isnan(cost) | np.isnan(value))
    front = np.zeros(cost.size, dtype=bool)
    for i in np.flatnonzero(valid):
        no_worse = valid & (cost <= cost[i]) & (value <= value[i])
        better = no_worse & ((cost < cost[i]) | (value < value[i]))
        front[i] = not better.any()
    return front


def _point_labels(table: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    names = [p for p in parameters if p in table.columns]
    return [", ".join(f"{n.split('.')[-1]}={row[n]}" for n in names) for _, row in table.iterrows()]


def latency_vs_cost(
    ax: Axes,
    table: pd.DataFrame,
    latency: str,
    parameters: Sequence[str] = (),
    best: int | None = None,
    cost: str = COST,
) -> Axes:
    """Latency against cost: SLO-meeting points filled, failing ones crossed, the Pareto front joined."""
    x, y = table[cost].to_numpy(float), table[latency].to_numpy(float)
    passed = table["slo_passed"].to_numpy(bool) if "slo_passed" in table.columns else np.ones(x.size, bool)
    ax.scatter(x[passed], y[passed], marker="o", color="tab:green", label="meets SLOs", zorder=3)
    ax.scatter(x[~passed], y[~passed], marker="x", color="tab:red", label="fails an SLO", zorder=3)
    front = pareto_front(x, y)
    order = np.argsort(x[front], kind="stable")
    ax.step(x[front][order], y[front][order], where="post", color="tab:blue", alpha=0.6, label="Pareto front")
    ax.scatter(x[front], y[front], s=120, facecolors="none", edgecolors="tab:blue", zorder=4)
    if best is not None:
        ax.scatter([x[best]], [y[best]], marker="*", s=260, color="gold", edgecolors="black", zorder=5, label="best")
    if len(table) <= MAX_LABELLED_POINTS:
        for label, xi, yi in zip(_point_labels(table, parameters), x, y, strict=True):
            ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    _auto_log(ax, table[latency])
    ax.set_xlabel(f"{cost} (currency units)")
    ax.set_ylabel(latency + " (s)")
    ax.set_title("latency against cost")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return ax


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name)


def save_sweep_plots(
    table: pd.DataFrame, parameters: Sequence[str], out_dir: Path, best: int | None = None
) -> list[Path]:
    """p99-vs-<parameter>.png for each parameter that varies, and p99-vs-cost.png, into out_dir."""
    latency = primary_latency(table)
    if latency is None or table.empty:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    varying = [p for p in parameters if p in table.columns and table[p].nunique(dropna=False) > 1]
    written: list[Path] = []
    for parameter in varying:
        figure, ax = _figure()
        figure_vs_parameter(ax, table, parameter, latency, varying)
        written.append(out_dir / f"p99-vs-{_safe(parameter)}.png")
        figure.savefig(written[-1], dpi=110)
    if COST in table.columns:
        figure, ax = _figure()
        latency_vs_cost(ax, table, latency, varying, best)
        written.append(out_dir / "p99-vs-cost.png")
        figure.savefig(written[-1], dpi=110)
    return written
