"""Host-side cost of one snapshot: parse + build + account of a large device's collector stream.

    python3 bench/host_bench.py [--processes 2000 --buffers 20000 --refs 60000] [--keep DIR]

Generates the synthetic device (droidtrack.synth.generate_large), runs the real collector on it
once (under sh), then times decode+parse+build+account over the saved stream several times and
prints the median, the stream size and the cost per MiB. Target (issue 2): ≤ 1 s for
2,000 processes / 20,000 buffers / 60,000 references. Not a test: run it by hand.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from droidtrack import collector, frames  # noqa: E402
from droidtrack.account import account  # noqa: E402
from droidtrack.pipeline import snapshot_from_frames  # noqa: E402
from droidtrack.synth import generate_large  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--buffers", type=int, default=20000)
    ap.add_argument("--refs", type=int, default=60000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="keep the generated tree and capture here")
    a = ap.parse_args()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="dt-bench-"))
    root = tmp / "root"
    if not (root / "proc").exists():
        t0 = time.perf_counter()
        generate_large(root, processes=a.processes, buffers=a.buffers, refs=a.refs)
        print(f"generated tree in {time.perf_counter() - t0:.1f} s")
    token = frames.new_token()
    t0 = time.perf_counter()
    out, err, rc = collector.run_local(root, token)
    print(f"collector (sh, host tools): {time.perf_counter() - t0:.2f} s, stream {len(out) / 2**20:.1f} MiB, rc {rc}")
    (tmp / "large.dtc").write_bytes(out)
    times = {"decode": [], "parse+build": [], "account": [], "total": []}
    snap = None
    for _ in range(a.runs):
        t0 = time.perf_counter()
        fr = frames.decode(out, token)
        t1 = time.perf_counter()
        snap = snapshot_from_frames(fr)
        t2 = time.perf_counter()
        acc = account(snap)
        t3 = time.perf_counter()
        times["decode"].append(t1 - t0)
        times["parse+build"].append(t2 - t1)
        times["account"].append(t3 - t2)
        times["total"].append(t3 - t0)
    refs = sum(len(h.fds) + len(h.maps) for b in snap.buffers.values() for h in b.holders.values())
    print(f"snapshot: {len(snap.buffers)} buffers, {len(snap.processes)} processes, {refs} references, "
          f"{len(snap.problems)} problems")
    for k, v in times.items():
        print(f"  {k:<12} median {statistics.median(v) * 1000:7.0f} ms  (min {min(v) * 1000:.0f}, max {max(v) * 1000:.0f})")
    mib = len(out) / 2**20
    print(f"  host cost per MiB of stream: {statistics.median(times['total']) / mib * 1000:.0f} ms/MiB")
    print(f"  target ≤ 1000 ms total: {'met' if statistics.median(times['total']) <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
