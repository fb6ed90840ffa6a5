"""Human-facing views of a `RunResult`: rich tables, matplotlib plots, files on disk, diagrams.

The CLI and the app share these, so a figure looks the same wherever it is shown.  Plotting
modules are not imported here: importing `flowsim.reports` stays cheap for table-only use.
"""

from flowsim.reports.tables import (
    analysis_summary,
    end_to_end_table,
    node_flow_table,
    node_table,
    node_time_table,
    report,
    slo_table,
)
from flowsim.reports.theory import theory_table

__all__ = [
    "analysis_summary",
    "end_to_end_table",
    "node_flow_table",
    "node_table",
    "node_time_table",
    "report",
    "slo_table",
    "theory_table",
]
