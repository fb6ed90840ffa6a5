"""The app's outputs: one run's results, two runs on the same axes, the effective YAML, downloads.

Every figure comes from `flowsim.reports` (tables, plots, diagram, app_views); this module only
lays them out.  Rendered PNGs are cached on the run's request, so reruns of the page (any click)
do not redraw them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import streamlit as st

from flowsim.app.controls import describe_overrides
from flowsim.app.runner import KeptRun, RunRequest
from flowsim.app.sources import effective_yaml
from flowsim.compare import compare_results
from flowsim.reports.app_frames import (
    compare_frame,
    headline,
    headline_pair,
    nodes_frame,
    slo_frame,
    theory_frame,
    versions_frame,
)
from flowsim.reports.key_tables import key_figures_frame, sinks_frame
from flowsim.reports.streaming import streaming_rows
from flowsim.reports.tables import analysis_summary
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

if TYPE_CHECKING:
    from flowsim.reports.compare_charts import Side  # the overlay specs' cache keys name it

# Plotting (matplotlib, Altair, networkx) is imported where a figure is drawn, not here: the key
# figures and headline metrics reach the page first, the charts a moment later.

_TOPOLOGY_CAPTION = (
    "Each node coloured by utilization, green idle to red saturated (a consumer group a minute behind counts as "
    "saturated); the bottleneck (the node the theory summary names) is outlined."
)
_NUMBER = st.column_config.NumberColumn(format="localized")
_PERCENT = st.column_config.NumberColumn(format="percent")


# ---- figures ---------------------------------------------------------------------------------
def _topology_png(kept: KeptRun) -> bytes:
    from flowsim.reports.app_figures import graph_figure, png_bytes

    return png_bytes(graph_figure(kept.scenario.arch, kept.result))


def _timeseries_png(kept: KeptRun) -> bytes:
    from flowsim.reports.app_figures import png_bytes, time_series_figure

    return png_bytes(time_series_figure(kept.result, kept.scenario))


def _latency_png(kept: KeptRun) -> bytes:
    from flowsim.reports.app_figures import new_figure, png_bytes
    from flowsim.reports.plots import plot_latency

    figure, (ax,) = new_figure(6.5, 3.8)
    plot_latency(ax, kept.result)
    return png_bytes(figure)


def _versions_png(kept: KeptRun) -> bytes:
    from flowsim.reports.app_figures import new_figure, plot_versions, png_bytes

    figure, (ax,) = new_figure(10.0, 2.8)
    plot_versions(ax, kept.result)
    return png_bytes(figure)


_FIGURES: dict[str, Callable[[KeptRun], bytes]] = {
    "topology": _topology_png,
    "timeseries": _timeseries_png,
    "latency": _latency_png,
    "versions": _versions_png,
}


@st.cache_data(max_entries=128, show_spinner=False)
def _render(name: str, text: str, overrides_json: str, seed: int, replications: int, _kept: KeptRun) -> bytes:
    return _FIGURES[name](_kept)


def _build_chart(name: str, kept: KeptRun) -> Any:
    from flowsim.reports.charts import latency_chart, time_series_chart
    from flowsim.reports.topology_chart import topology_chart

    if name == "topology":
        return topology_chart(kept.scenario.arch, kept.result)
    if name == "timeseries":
        return time_series_chart(kept.result, kept.scenario)
    return latency_chart(kept.result)


@st.cache_data(max_entries=128, show_spinner=False)
def _chart_spec(name: str, text: str, overrides_json: str, seed: int, replications: int, _kept: KeptRun) -> Any:
    """The Vega-Lite spec, built once per run (unvalidated: the specs are fixed code, tested in tests)."""
    return _build_chart(name, _kept).to_dict(validate=False)


def chart(kept: KeptRun, name: str) -> None:
    """An interactive chart of the run, cached on (chart, request) so page reruns do not rebuild it."""
    r: RunRequest = kept.request
    st.vega_lite_chart(spec=_chart_spec(name, r.text, r.overrides_json, r.seed, r.replications, kept), width="stretch")


def png(kept: KeptRun, name: str) -> bytes:
    """A figure of the run as PNG bytes, cached on (figure, request)."""
    r: RunRequest = kept.request
    return _render(name, r.text, r.overrides_json, r.seed, r.replications, kept)


# ---- one run ---------------------------------------------------------------------------------
def headline_metrics(kept: KeptRun, previous: KeptRun | None = None, columns: int = 4) -> None:
    """Throughput, p99, lost, SLOs; with the change from `previous` when it ran the same design."""
    arch = kept.scenario.arch
    figures = headline(kept.result, arch)
    same = previous is not None and previous.result.architecture == kept.result.architecture
    before = headline(previous.result, previous.scenario.arch) if same and previous else [None] * len(figures)
    since = f"vs run #{previous.number}" if same and previous else None
    slots = st.columns(columns)
    for index, (figure, old) in enumerate(zip(figures, before, strict=True)):
        delta = figure.delta_text(old)
        slots[index % columns].metric(figure.card_label, figure.card, delta=delta,
                                      delta_color="normal" if figure.better == "higher" else "inverse",
                                      help=figure.help, border=True, height="stretch",
                                      delta_description=since if delta else None)  # fmt: skip


def _slos(kept: KeptRun) -> None:
    st.markdown("##### Service-level objectives")
    slos = slo_frame(kept.result)
    if slos.empty:
        st.caption("This scenario defines no SLOs (add an `slos:` list to the YAML).")
    for row in slos.astype(str).to_dict("records"):
        color = "green" if row["verdict"] == "pass" else "red"
        note = f" · _{row['note']}_" if row["note"] else ""
        st.markdown(f":{color}-badge[{row['verdict']}] `{row['SLO']}` measured **{row['value']}** "
                    f"(target {row['target']}){note}")  # fmt: skip


def _theory_summary(kept: KeptRun) -> None:
    st.markdown("##### Before any simulation: queueing theory")
    lines = [ln for ln in analysis_summary(kept.result).plain.splitlines() if not ln.startswith("warning:")]
    st.markdown("\n".join(f"- {line}" for line in lines))


def results_view(kept: KeptRun, previous: KeptRun | None, stale: bool) -> None:
    """Everything about one run, in the order a reviewer asks: how much, how fast, where, when."""
    result = kept.result
    st.caption(f"Showing run {kept.label}")
    if result.engine == "fluid":
        st.info(
            f"The **fluid engine** ran this (time step {result.fluid_step_s:g} s): rates and backlogs, not single "
            "messages, with latency percentiles from queueing theory. With Engine auto that happens when a run "
            "is over the page's event budget; set Engine to per_message to be refused instead."
        )
    if kept.request.note:
        st.info(kept.request.note)
    elif stale:
        st.info("The YAML or the settings changed since this run: press **▶ Run simulation** to see their effect.")
    for warning in result.warnings:
        st.warning(warning)
    for note in result.analysis.notes:  # not problems: what the design's start times mean for this run
        st.caption(f"Note: {note}")
    key_figures_view(kept)
    headline_metrics(kept, previous)
    sinks_view(kept)
    chart(kept, "topology")
    st.caption(_TOPOLOGY_CAPTION)
    left, right = st.columns(2, gap="medium")
    with left:
        _slos(kept)
    with right:
        _theory_summary(kept)
    st.markdown("#### Over time")
    chart(kept, "timeseries")
    st.caption("Means over replications; shaded spans are the scenario's scheduled faults. Hover a line for "
               "its value, click a legend entry to isolate it, drag or scroll to pan and zoom.")  # fmt: skip
    _latency_and_theory(kept)
    if not versions_frame(result).empty:
        st.markdown("#### Model versions")
        st.image(png(kept, "versions"), width="stretch")
    with st.expander("Per-node figures"):
        config = {"utilization": _PERCENT} | {c: _NUMBER for c in _NUMERIC_NODE_COLUMNS}
        st.dataframe(nodes_frame(result), width="stretch", column_config=config, placeholder="—")
    downloads(kept)


_NUMERIC_NODE_COLUMNS = ("arrivals", "completed", "dropped", "retries", "dead_lettered", "throughput_per_s",
                         "mean_queue_length", "wait_p99_s", "sojourn_mean_s", "sojourn_p99_s")  # fmt: skip


def _latency_and_theory(kept: KeptRun) -> None:
    left, right = st.columns(2, gap="medium")
    with left:
        st.markdown("#### End-to-end latency")
        chart(kept, "latency")
        st.caption("The share of messages slower than x, on a log axis: the tail a histogram folds into one "
                   "bar; dashed lines are each sink's p99.")  # fmt: skip
    with right:
        st.markdown("#### Theory beside simulation")
        theory = theory_frame(kept.result)
        if theory.empty:
            st.caption("No node here has a queueing formula.")
        else:
            st.dataframe(theory, hide_index=True, width="stretch", placeholder="—")
        groups = streaming_rows(kept.result)
        if groups:
            st.markdown("#### Consumer groups: back-of-envelope vs simulated")
            st.dataframe(groups, hide_index=True, width="stretch")


def downloads(kept: KeptRun) -> None:
    """Results as JSON and CSV (produced only when clicked), and the plots as PNG (already drawn)."""
    result, stem = kept.result, f"{kept.result.scenario}-run{kept.number}"
    st.markdown("#### Download")
    data: list[tuple[str, Callable[[], str | bytes], str, str]] = [
        ("Result (JSON)", lambda: result.model_dump_json(indent=2), "result.json", "application/json"),
        ("Time series (CSV)", lambda: result.series.to_csv(index=False), "timeseries.csv", "text/csv"),
        ("Latencies (CSV)", lambda: _latency_csv(result), "latencies.csv", "text/csv"),
        ("Nodes (CSV)", lambda: nodes_frame(result).to_csv(), "nodes.csv", "text/csv"),
    ]
    plots = [("Diagram (PNG)", "topology"), ("Time series (PNG)", "timeseries"), ("Latency (PNG)", "latency")]
    images: list[tuple[str, Callable[[], str | bytes], str, str]] = [
        (label, partial(png, kept, name), f"{name}.png", "image/png") for label, name in plots
    ]  # drawn (matplotlib) only when clicked: the first result does not wait for them
    for row in (data, images):
        for slot, (label, content, name, mime) in zip(st.columns(4), row, strict=False):
            slot.download_button(label, content, file_name=f"{stem}-{name}", mime=mime, on_click="ignore",
                                 key=f"download-{kept.number}-{name}", width="stretch")  # fmt: skip


def _latency_csv(result: RunResult) -> str:
    from flowsim.reports.export import latency_frame

    return latency_frame(result).to_csv(index=False)


# ---- two runs --------------------------------------------------------------------------------
def _pick(runs: list[KeptRun]) -> tuple[KeptRun, KeptRun]:
    labels = [r.label for r in runs]
    left, right = st.columns(2)
    latest = runs[-1].number  # in the keys: a new run resets the choice to the latest two
    a = left.selectbox("Run A", labels, index=len(labels) - 2, key=f"compare_a_{latest}")
    b = right.selectbox("Run B", labels, index=len(labels) - 1, key=f"compare_b_{latest}")
    return runs[labels.index(a)], runs[labels.index(b)]


def run_name(letter: str, kept: KeptRun) -> str:
    """'A: run #1 baseline · api.servers=3': the run's label as the charts' legend shows it."""
    overrides = kept.request.overrides
    if kept.request.note:  # a first look: its cut horizon said in two words, not as three long settings
        overrides = {k: v for k, v in overrides.items() if k not in _FIRST_LOOK_CUT}
    settings = describe_overrides(overrides) or ("" if kept.request.note else "as written")
    if kept.request.note:
        settings = " · ".join(s for s in (f"first {format_duration(kept.scenario.duration)}", settings) if s)
    return f"{letter}: run #{kept.number} {kept.result.scenario} · {settings}"


_FIRST_LOOK_CUT = ("duration", "warmup", "faults")  # what `jobs.first_look` overrides


def _key(kept: KeptRun) -> tuple[str, str, int, int, str, str]:
    r = kept.request
    return r.text, r.overrides_json, r.seed, r.replications, r.base_dir, r.note


@st.cache_data(max_entries=64, show_spinner=False)
def _overlay_spec(keys: tuple[Any, ...], names: tuple[str, str], node: str | None, _sides: tuple[Side, Side]) -> Any:
    """The overlay's Vega-Lite spec, built once per (pair of runs, followed node)."""
    from flowsim.reports.compare_charts import overlay_chart

    return overlay_chart(*_sides, node).to_dict(validate=False)


@st.cache_data(max_entries=64, show_spinner=False)
def _latency_spec(keys: tuple[Any, ...], names: tuple[str, str], _sides: tuple[Side, Side]) -> Any:
    from flowsim.reports.compare_charts import latency_overlay_chart

    return latency_overlay_chart(*_sides).to_dict(validate=False)


def compare_view(runs: list[KeptRun]) -> None:
    """Two kept runs on the same axes, then every shared figure as B - A with its paired 95% CI."""
    if len(runs) < 2:
        st.info("Every run is kept here. Change a setting and run again, then pick two runs to compare.")
        return
    from flowsim.reports.compare_charts import Side, followed_nodes
    from flowsim.reports.compare_tables import paired_table

    a, b = _pick(runs)
    st.markdown(f"**A:** {a.label}  \n**B:** {b.label}")
    pair = headline_pair(a.result, a.scenario.arch, b.result, b.scenario.arch)
    st.table(pair, hide_index=True)  # text: a long value with its CI and unit is never cut
    sides = (Side(run_name("A", a), a.result, a.scenario), Side(run_name("B", b), b.result, b.scenario))
    comparison = compare_results(a.result, a.scenario, b.result, b.scenario, labels=(sides[0].name, sides[1].name))
    for warning in comparison.warnings:
        st.warning(f"Not like for like: {warning}.")
    keys, names = (_key(a), _key(b)), (sides[0].name, sides[1].name)
    st.markdown("#### Over time, on the same axes")
    nodes = followed_nodes(*sides)
    help_text = "its throughput, queue, utilization and lag; the bottleneck first"
    node = (
        st.selectbox("Follow node", nodes, key=f"compare_node_{a.number}_{b.number}", help=help_text) if nodes else None
    )
    st.vega_lite_chart(spec=_overlay_spec(keys, names, node, sides), width="stretch")
    st.caption("Means over each run's replications; shaded spans are scheduled faults. Drag or scroll to zoom "
               "the shared time axis, hover a line for its value.")  # fmt: skip
    st.markdown("#### End-to-end latency, both runs")
    st.vega_lite_chart(spec=_latency_spec(keys, names, sides), width="stretch")
    st.caption("The share of messages slower than x (log axis); dashed rules are each run's p99.")
    st.markdown("#### Paired differences, B - A")
    pairs = comparison.replications
    st.caption(f"Replication r of A paired with replication r of B ({pairs} pair{'s' if pairs != 1 else ''}; the "
               "same seed gives both the same arrivals), as `flowsim compare` computes it: the 95% CI is the "
               "paired-t interval of the differences, 'significant' when it excludes 0 (with 1 replication "
               "there is no interval: run with 2 or more). Latency figures are means of each replication's "
               "percentile; utilization changes are in percentage points.")  # fmt: skip
    st.table(paired_table(comparison).set_index("figure"))  # text in the page: readable, copyable, searchable
    with st.expander("Every figure of A and B, with separate intervals"):
        config = {c: _NUMBER for c in ("A", "A ± 95%", "B", "B ± 95%", "B - A", "± 95%")} | {"change": _PERCENT}
        st.dataframe(compare_frame(a.result, b.result), hide_index=True, width="stretch", column_config=config,
                     placeholder="—")  # fmt: skip


# ---- the scenario --------------------------------------------------------------------------
def effective_yaml_view(text: str, scenario: Scenario) -> None:
    """The editor's text with the controls' settings merged as `overrides:`, to show and download."""
    effective = effective_yaml(text, scenario.overrides)
    st.markdown("#### Effective YAML")
    st.caption("The text above with the sidebar's settings as an `overrides:` section. "
               "`flowsim run` on this file gives the same run.")  # fmt: skip
    st.download_button("Download effective YAML", effective, file_name=f"{scenario.name}.yaml",
                       mime="application/x-yaml", on_click="ignore", key="download-effective")  # fmt: skip
    st.code(effective, language="yaml")


# ---- key figures -------------------------------------------------------------------------------
def key_figures_view(kept: KeptRun) -> None:
    """The lesson's sentence and the run's key figures (the lesson's marked ▶), before anything else."""
    lesson = kept.scenario.lesson
    if lesson is not None:
        st.markdown(f"**Lesson:** {lesson.text}")
        if kept.request.note and "faults" in kept.request.overrides:  # a first look cut before the fault
            st.warning("This first look ends before the fault this lesson is about: the figures below are from "
                       "before it. Press **▶ Run simulation** for the whole run.")  # fmt: skip
    st.table(key_figures_frame(kept.result, kept.scenario), hide_index=True)  # text: shows at once, searchable


def sinks_view(kept: KeptRun) -> None:
    """What each sink received: count, rate, p50, p95, p99 (a fan-out's copies per sink, not summed)."""
    st.table(sinks_frame(kept.result, kept.scenario), hide_index=True)
