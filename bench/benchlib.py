"""What the bench scripts share: the repository on sys.path, the large synthetic device, and the
timing loops (median of N runs, best of N interleaved rounds) with one way of printing them.

    from benchlib import REPO, best_interleaved, device_parser, large_device, ms, runs_summary, timed_runs
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def timed_runs(fn, runs: int) -> list[float]:
    """Wall seconds of each of `runs` calls of fn()."""
    times = []
    clock = time.perf_counter
    for _ in range(runs):
        t = clock()
        fn()
        times.append(clock() - t)
    return times


def median_time(fn, runs: int) -> tuple[float, list[float]]:
    times = timed_runs(fn, runs)
    return statistics.median(times), times


def best_interleaved(fns, runs: int) -> list[float]:
    """Each function's best wall time over `runs` rounds, the functions taking turns within a
    round (A B A B …), so that a slow spell of a shared machine hits them alike."""
    best = [float("inf")] * len(fns)
    clock = time.perf_counter
    for _ in range(runs):
        for i, fn in enumerate(fns):
            t0 = clock()
            fn()
            best[i] = min(best[i], clock() - t0)
    return best


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def runs_summary(times: list[float]) -> str:
    """'median X ms  (min Y, max Z)' of a list of seconds."""
    return (f"median {statistics.median(times) * 1000:7.0f} ms  (min {min(times) * 1000:.0f}, "
            f"max {max(times) * 1000:.0f})")


def device_parser(doc: str, *, refs: bool = True, runs: int | None = 5) -> argparse.ArgumentParser:
    """A bench script's argument parser: its docstring as the help, the large device's size
    (--processes, alias --procs; --buffers; --refs) and, unless runs is None, --runs."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", "--procs", type=int, default=2000)
    ap.add_argument("--buffers", type=int, default=20000)
    if refs:
        ap.add_argument("--refs", type=int, default=60000)
    if runs is not None:
        ap.add_argument("--runs", type=int, default=runs)
    return ap


def large_device(root: Path, *, processes: int, buffers: int, refs: int, generation: str | None = None,
                 quiet: bool = False):
    """The large synthetic device (sim.synth.generate_large) written to `root`, saying how long it
    took; returns the generator's tree."""
    from droidtrack.sim.synth import generate_large
    kw = {} if generation is None else {"generation": generation}
    t0 = time.perf_counter()
    tree = generate_large(root, processes=processes, buffers=buffers, refs=refs, **kw)
    if not quiet:
        print(f"generated {processes} processes, {buffers} buffers, {refs} refs in {time.perf_counter() - t0:.1f} s")
    return tree
