"""Wall time of a benchmarked call: median of repeats after a warm-up, synchronised on CUDA; peak memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def timed(
    function: Callable[[], object], device: torch.device, repeats: int, warm_up: bool = True
) -> tuple[float, int]:
    """Median seconds of ``function`` over ``repeats`` runs after one warm-up (``warm_up=False``: the
    caller has just run it), and peak CUDA bytes."""
    if warm_up:
        function()
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    return statistics.median(times), peak
