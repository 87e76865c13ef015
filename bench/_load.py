"""Shared by the benchmarks (files starting with ``_`` are not benchmarks themselves): a closed-loop load generator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def rate(threads: int, seconds: float, op: Callable[[int], Callable[[], None]]) -> float:
    """Operations per second with ``threads`` workers, all starting together; worker ``i`` runs the closure ``op(i)``
    in a loop for ``seconds``."""
    counts = [0] * threads
    errors: list[BaseException] = []
    gate = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def work(i: int) -> None:
        call = op(i)
        gate.wait()
        try:
            while time.monotonic() < stop_at[0]:
                call()
                counts[i] += 1
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    stop_at[0] = time.monotonic() + seconds
    gate.wait()
    began = time.monotonic()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.monotonic() - began)
