"""Write a run or a sweep to a directory: the JSON result, the tables, and the plots.

The files are meant for notebooks and CI artefacts, so they are plain formats (JSON, CSV or
Parquet, PNG) with stable names; an unwritable directory is a user error, not a crash.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from flowsim.errors import FlowsimError
from flowsim.optional import need
from flowsim.reports.plots import save_all
from flowsim.reports.sweep_plots import save_sweep_plots
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario

if TYPE_CHECKING:
    from flowsim.sweep import SweepResult, TableFormat

SeriesFormat = Literal["csv", "parquet"]


def latency_frame(result: RunResult) -> pd.DataFrame:
    """End-to-end latency samples in long form: one row per delivered item (sink, latency_s)."""
    frames = [
        pd.DataFrame({"sink": np.full(values.size, sink, dtype=object), "latency_s": values})
        for sink, values in result.latencies.items()
    ]
    if not frames:
        return pd.DataFrame({"sink": pd.Series(dtype=object), "latency_s": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)


def _write_table(frame: pd.DataFrame, path: Path, series_format: SeriesFormat) -> None:
    if series_format == "parquet":
        need("pyarrow", "--series-format parquet")
        frame.to_parquet(path, engine="pyarrow", index=False)
    else:
        frame.to_csv(path, index=False)


def write_outputs(
    result: RunResult, scenario: Scenario, out_dir: Path, series_format: SeriesFormat = "csv"
) -> list[Path]:
    """Create out_dir and write result.json, timeseries.*, latencies.*, timelines.json and the PNG plots.

    Everything is written to a hidden folder beside out_dir first and moved in at the end, so a
    failure half-way (a full disk, a plot that cannot be drawn) leaves no half-written outputs.
    """
    final = Path(out_dir)
    out_dir = final.parent / f".{final.name}.partial-{os.getpid()}"
    try:
        final.mkdir(parents=True, exist_ok=True)
        out_dir.mkdir(exist_ok=True)
        written = [out_dir / "result.json"]
        written[0].write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
        for stem, frame in (("timeseries", result.series), ("latencies", latency_frame(result))):
            path = out_dir / f"{stem}.{series_format}"
            _write_table(frame, path, series_format)
            written.append(path)
        timelines = {node: runs for node, runs in result.extra.items() if runs}
        if timelines:  # kind timelines (model versions, replicas): one list per replication
            written.append(out_dir / "timelines.json")
            written[-1].write_text(json.dumps(timelines, indent=2, default=float) + "\n", encoding="utf-8")
        written += save_all(result, scenario, out_dir)
        moved = [final / path.name for path in written]
        for path, target in zip(written, moved, strict=True):
            os.replace(path, target)
    except OSError as exc:
        where = exc.filename or final
        raise FlowsimError(f"cannot write outputs to {where}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return moved


def write_sweep_outputs(
    result: SweepResult,
    out_dir: Path,
    objective: str | None = None,
    formats: Sequence[TableFormat] | None = None,
) -> list[Path]:
    """sweep.csv / sweep.parquet and the trade-off plots, the best point per `objective` marked.

    `formats` as `SweepResult.write`: both tables by default, only the CSV without pyarrow."""
    out_dir = Path(out_dir)
    written = result.write(out_dir, formats)
    try:
        written += save_sweep_plots(result.table, result.parameters, out_dir, result.best_index(objective))
    except OSError as exc:
        where = exc.filename or out_dir
        raise FlowsimError(f"cannot write sweep outputs to {where}: {exc.strerror or exc}") from None
    return written
