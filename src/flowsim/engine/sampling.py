"""Random numbers off the hot path: vectorised draws served one float at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain

import numpy as np

Sampler = Callable[[], float]
BLOCK = 2048


def block_sampler(draw: Callable[[int], np.ndarray], block: int = BLOCK) -> Sampler:
    """Turn a vectorised ``draw(n)`` into a zero-argument sampler returning floats."""

    def blocks() -> Iterator[list[float]]:
        while True:
            yield draw(block).tolist()

    return chain.from_iterable(blocks()).__next__
