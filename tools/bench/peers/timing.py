"""Shared timing helper of the peer ops: warm-up, then the median of repeats."""
import statistics
import time


def median_ms(fn, warmup=2, repeats=7):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def repeats(spec, normal):
    return max(3, normal // 2) if spec.get("quick") else normal
