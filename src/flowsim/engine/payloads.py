"""Typed payloads that kinds exchange: on data items (a batch's interval, a model version) and in
control signals (a retraining request, a promotion).

They live in the kernel so that a kind can recognise what another sends without importing it,
and so that a misspelt field is a type error rather than a silently missing dictionary key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DataInterval:
    """An item that stands for a batch of data: who produced it, which interval it covers.

    Batch producers (a scheduled DAG run) attach it; consumers that treat bulk loads differently
    from single requests (a warehouse) recognise it without knowing the producer's kind.
    """

    producer: str
    start: float
    end: float


@dataclass(frozen=True)
class RetrainRequest:
    """`retrain` signal (drift monitor -> training): a drift began at `drift_at`, seen at `detected_at`."""

    drift_at: float
    detected_at: float


@dataclass(frozen=True)
class ModelVersion:
    """A trained model version: the payload of training's output items, of `promote` (registry ->
    serving) and of `remediated` (serving -> drift monitor), gaining timestamps on the way."""

    version: int
    trained_at: float
    data_up_to: float = 0.0
    triggered_at: float = 0.0
    trigger: str = ""
    messages: int = 0
    error_rate: float = 0.0  # the share of its predictions that are wrong (before any drift)
    drift_at: float | None = None  # set when a drift monitor's retraining request made it
    detected_at: float | None = None
    validated_at: float | None = None
    serving_at: float | None = None

    def stamped(self, **times: float) -> ModelVersion:
        """A copy with more timestamps (validated_at, serving_at)."""
        return replace(self, **times)  # type: ignore[arg-type]
