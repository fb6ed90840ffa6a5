"""Writes clicks.csv: a synthetic day of click traffic at 5-minute resolution (seeded, reproducible).

    python3 traces/make_clicks.py          # from the project root; rewrites traces/clicks.csv

The shape is a sum of smooth bumps on a night floor, times multiplicative noise:
  - night floor 0.22 (00:00-06:00);
  - a morning ramp from 06:00 to a plateau of ~0.75 by 09:30;
  - a lunch dip to ~0.55 around 12:45;
  - an evening peak of 1.0 around 20:15 (19:00-21:30 above 0.9), falling to the floor by midnight;
  - noise: each 5-minute row times a lognormal factor (sigma 0.05) from numpy's PCG64, seed 20240601.
Rates are client batches per second (a client sends 10 clicks per batch), peak 1.5/s: small enough
that a day replays in seconds through the per-message engine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PEAK_PER_S = 1.5
STEP_S = 300
SEED = 20240601


def shape(hours: np.ndarray) -> np.ndarray:
    def bump(center: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hours - center) / width) ** 2)

    def rise(at: float, width: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(hours - at) / width))

    day = 0.53 * rise(7.5, 0.6) * (1 - rise(22.5, 0.7))  # the working day above the night floor
    evening = 0.30 * bump(20.25, 1.1)
    lunch = -0.22 * bump(12.75, 0.6)
    return 0.22 + day + evening + lunch


def main() -> None:
    times = np.arange(0, 86400, STEP_S)
    rng = np.random.Generator(np.random.PCG64(SEED))
    base = shape(times / 3600)
    rates = PEAK_PER_S * base / base.max() * rng.lognormal(-(0.05**2) / 2, 0.05, times.size)
    lines = [
        "# clicks.csv: a synthetic day of clicks, written by traces/make_clicks.py (seed 20240601).",
        "# 5-minute rows; rate = client batches per second (10 clicks each), piecewise constant per row.",
        "# Night floor ~0.33/s, morning ramp 06:00-09:30, lunch dip ~12:45, evening peak ~1.5/s at 20:15.",
        "time_s,rate_per_s",
    ]
    lines += [f"{t},{r:.4f}" for t, r in zip(times.tolist(), rates.tolist(), strict=True)]
    (Path(__file__).parent / "clicks.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
