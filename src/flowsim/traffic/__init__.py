"""Load over time: rate profiles, replayed traces, bursty (MMPP) arrivals, batch sizes, and the
exact non-homogeneous Poisson arrivals the source draws from them (see docs/load.md)."""
