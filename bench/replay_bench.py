"""How long `droidtrack top --replay FILE` takes to show its first screen on a long recording of a
large device, and how much memory it takes (issue 12 #5: first screen <= 2 s, memory <= 2x one
sample's snapshot, whatever the recording's length).

The recording is written once (droidtrack.recording/2, SQLite) from the TUI bench's large device,
each sample a step on from the last (about 2% of the buffers change holders or are replaced), and
kept with --keep. The first screen is timed from the app's start (the recording opened, as `top`
does) until the process table holds its rows, under Textual's headless driver.

    python bench/replay_bench.py [--processes 2000] [--buffers 20000] [--samples 100] [--keep FILE]

Exit code 1 when the first screen takes longer than --budget-s (default 2).
"""
from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time

from benchlib import REPO as ROOT, device_parser  # noqa: E402  (puts the repository on sys.path)

sys.path.insert(0, str(ROOT / "tests" / "tui"))

import factory  # noqa: E402  (tests/tui/factory.py: snapshots built from droidtrack.model)

from droidtrack.history.recording_db import DbWriter  # noqa: E402
from droidtrack.sources.replay import ReplaySource  # noqa: E402
from droidtrack.tui.app import TopApp  # noqa: E402


def write_recording(path: str, procs: int, buffers: int, samples: int) -> float:
    t = time.perf_counter()
    w = DbWriter(path, {"bench": "replay_bench"})
    try:
        for step in range(samples):
            w.add_snapshot(factory.big(procs, buffers, step=step))
    finally:
        w.close()
    return time.perf_counter() - t


async def first_screen(path: str, size: tuple[int, int]) -> dict:
    t0 = time.perf_counter()
    app = TopApp(ReplaySource(path), interval=2.0)
    async with app.run_test(size=size) as pilot:
        table = app.pane.query_one("#proc_table")
        while table.row_count == 0:
            if time.perf_counter() - t0 > 120:
                raise SystemExit("no rows after 120 s")
            await asyncio.sleep(0.01)      # not pilot.pause: it posts a callback to every widget
        shown = time.perf_counter() - t0
        rows = table.row_count
    return {"first_screen_s": shown, "rows": rows}


def main() -> int:
    ap = device_parser(__doc__, refs=False, runs=None)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--keep", metavar="FILE", help="write (or reuse) the recording here")
    ap.add_argument("--budget-s", type=float, default=2.0)
    ap.add_argument("--size", default="160x50", help="terminal size WxH (default 160x50)")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    path = a.keep or os.path.join(tempfile.mkdtemp(prefix="dt-replay-bench-"), "bench.dtr")
    if not os.path.exists(path):
        took = write_recording(path, a.processes, a.buffers, a.samples)
        print(f"wrote {a.samples} samples of {a.processes} processes / {a.buffers} buffers to {path} "
              f"({os.path.getsize(path) / 2**20:.1f} MiB) in {took:.1f} s")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = asyncio.run(first_screen(path, (w, h)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"droidtrack top --replay first screen: {r['first_screen_s']:.2f} s to {r['rows']} process rows "
          f"(terminal {w}x{h}); peak RSS {peak / 1024:.0f} MiB ({base / 1024:.0f} MiB before opening it)")
    ok = r["first_screen_s"] <= a.budget_s
    print(f"  budget {a.budget_s:g} s: {'OK' if ok else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
