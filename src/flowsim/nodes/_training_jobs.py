"""The jobs of a `training` node's GPU pool: training runs and hyperparameter-sweep trials.

A sweep follows W&B sweeps and Optuna studies run by `parallelism` workers: each worker runs one
trial after another, so at most `parallelism` trials of a sweep are queued or running at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from flowsim.distributions import Constant, Distribution
from flowsim.engine.payloads import RetrainRequest
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration


@dataclass
class Run:
    """One job on the GPU pool: a training run (its trigger, the data it took, its attempts) or a sweep trial."""

    trigger: str
    triggered_at: float
    messages: int = 0
    data_up_to: float = 0.0
    attempt: int = 0
    request: RetrainRequest | None = None  # the drift that asked for this run, if one did
    sweep: int | None = None  # the sweep (0-based) a trial belongs to; None: a training run
    trial: int = 0
    gpus: int = 0
    started_at: float = 0.0


class SweepSpec(SpecModel):
    """A hyperparameter sweep: `trials` runs by `parallelism` workers, sharing the training GPU pool."""

    at: Duration = Field(0.0, ge=0, description="when the sweep's workers start")
    trials: Count = Field(10, ge=1, description="trials the sweep runs in all")
    parallelism: Count = Field(1, ge=1, description="workers: trials queued or running at once")
    trial_duration: Distribution = Field(
        default_factory=lambda: Constant(value=1800.0), description="how long one trial holds its GPUs"
    )
    gpus_per_trial: Count | None = Field(None, ge=1, description="GPUs one trial holds; none = gpus_per_run")
