#!/usr/bin/env python3
"""Speed of `droidtrack trace`'s host side, through a real adb server and the device double.

    sudo python bench/trace_bench.py [--seconds 5] [--rates 10000,0] [--adb 36|29]

The double (python -m droidtrack.double, its own process) serves a small device root whose tracefs
(droidtrack.double.tracefs, in a third process) writes synthetic dma_buf events into trace_pipe at
each --rates value (0: as fast as the reader takes them). droidtrack runs trace.sh on it over ONE
adb shell (AdbSession.trace) and feeds every chunk to TraceFeed (parse + lifetimes), as the command
does. For each rate it prints the events received per second, the host CPU seconds the reading
thread spent per 10,000 events (parse, model, adb reader), and so the rate one core could take.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib  # noqa: F401,E402  (puts the repository on sys.path)

from droidtrack.double import AdbServer, system_adb, wheel_adb  # noqa: E402
from droidtrack.ingest.trace_feed import TraceFeed  # noqa: E402
from droidtrack.sim.synth import DeviceTree  # noqa: E402
from droidtrack.sources import adb  # noqa: E402

FEEDER = """
import sys, time
from droidtrack.double.tracefs import TraceFS
fs = TraceFS(sys.argv[1]).start(rate=float(sys.argv[2]))
print("ready", flush=True)
for line in sys.stdin:
    print(fs.written, flush=True)
fs.stop()
"""


def one(target, root: Path, rate: float, seconds: float) -> dict:
    fd = subprocess.Popen([sys.executable, "-c", FEEDER, str(root), str(rate)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(benchlib.REPO)})
    assert fd.stdout.readline().strip() == "ready"
    token = f"bench{int(rate)}"
    feed = TraceFeed(token)
    stop = threading.Event()
    cpu = {}

    def run() -> None:
        c0 = time.thread_time()
        r = adb.AdbSession(target).trace(token, feed.feed, feed.feed_stderr, stop)
        cpu["s"] = time.thread_time() - c0
        feed.close(r.error)
    t = threading.Thread(target=run)
    t0 = time.monotonic()
    t.start()
    while feed.status.state != "streaming" and t.is_alive():
        time.sleep(0.01)
    ts = time.monotonic()
    n0 = feed.status.events
    time.sleep(seconds)
    n1 = feed.status.events
    te = time.monotonic()
    stop.set()
    t.join(60)
    fd.stdin.write("written?\n")
    fd.stdin.flush()
    written = int(fd.stdout.readline())
    fd.stdin.close()
    fd.wait(10)
    st = feed.status
    n = st.events
    return {"rate": rate, "seconds": round(te - ts, 2), "events_per_s": round((n1 - n0) / (te - ts)),
            "events": n, "written": written, "state": st.state, "end_marker": st.end_marker,
            "problems": len(feed.problems), "cpu_s_per_10k": round(cpu["s"] / max(n, 1) * 1e4, 3),
            "one_core_events_per_s": round(n / cpu["s"]) if cpu.get("s") else None,
            "wall_s": round(time.monotonic() - t0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rates", default="10000,0")
    ap.add_argument("--adb", choices=("36", "29"), default="36")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("trace_bench: the device double needs root", file=sys.stderr)
        return 2
    adb_bin = wheel_adb() if a.adb == "36" else system_adb()
    root = Path(tempfile.mkdtemp(prefix="trace-bench-")) / "phone"
    DeviceTree("a13-5.15").write(root)
    from droidtrack.double.tracefs import TraceFS
    TraceFS(root).layout()            # the double must see sys/kernel/tracing when it starts
    env = {**os.environ, "PYTHONPATH": str(benchlib.REPO)}
    dbl = subprocess.Popen([sys.executable, "-m", "droidtrack.double", str(root), "--rooted"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    serial = json.loads(dbl.stdout.readline())["serial"]
    try:
        with AdbServer(adb_bin) as srv:
            srv.connect(serial)
            target = adb.AdbTarget(serial, "127.0.0.1", srv.port, start_server=False)
            for rate in (float(x) for x in a.rates.split(",")):
                r = one(target, root, rate, a.seconds)
                label = "max" if rate == 0 else f"{rate:g}/s"
                print(f"feed {label:>8}: received {r['events_per_s']:>7} events/s over {r['seconds']} s "
                      f"({r['events']} events, {r['written']} written, {r['state']}, end marker {r['end_marker']}); "
                      f"host CPU {r['cpu_s_per_10k']} s per 10,000 events = {r['one_core_events_per_s']} events/s on one core")
    finally:
        dbl.stdin.close()
        dbl.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
