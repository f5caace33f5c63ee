#!/usr/bin/env python3
"""Speed of droidtrack's adb path, through a real adb server and the device double.

    sudo python bench/adb_bench.py [--processes 2000] [--runs 5] [--adb 36|29] [--link-mbps 40]

On a large synthetic device root (synth.generate_large), it measures, as medians over --runs:

  collect        droidtrack.sources.adb.collect(): ONE `adb shell` per snapshot (collector
                 already installed); the number of services opened per snapshot is checked
  cli-collector  `adb shell sh collect.sh ... > /dev/null`: the same device work through the adb
                 command line (what the collector itself costs, without droidtrack's reader)
  cat            `adb shell cat` of a file holding the same bytes the collector printed: the bare
                 transport cost of those bytes (and the same `cat` read by droidtrack's own reader)
  per-file       adbutils `device.shell("cat FILE")` per file, as a naive tool would do it: timed on
                 a sample of --sample files the collector reads, extrapolated to all of them

The double runs in its own process (python -m droidtrack.double), so droidtrack's reader and the
fake adbd do not share a GIL. --link-mbps limits the double's link to the host (e.g. 40 for
USB 2.0-like speed; default unlimited).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import device_parser, large_device, median_time  # noqa: E402  (puts the repository on sys.path)

from droidtrack.collect import frames  # noqa: E402
from droidtrack.double import AdbServer, system_adb, wheel_adb  # noqa: E402
from droidtrack.sources import adb  # noqa: E402


def collector_files(root: Path) -> list[str]:
    """Device paths of every file the collector reads on this root (what a per-file tool would cat)."""
    out = []
    proc = root / "proc"
    for d in sorted(proc.iterdir()):
        if not d.name.isdigit():
            continue
        p = f"/proc/{d.name}"
        out += [f"{p}/status", f"{p}/cmdline", f"{p}/maps", f"{p}/oom_score_adj"]
        fd = d / "fd"
        for f in fd.iterdir() if fd.is_dir() else ():
            target = os.readlink(f)
            if target.startswith("/dmabuf") or target == "anon_inode:dmabuf":
                out.append(f"{p}/fdinfo/{f.name}")
        if "dmabuf" in (d / "maps").read_text(errors="replace"):
            out.append(f"{p}/smaps")
    for sub in ("sys/kernel/dmabuf/buffers",):
        base = root / sub
        if base.is_dir():
            out += ["/" + str(f.relative_to(root)) for f in base.rglob("*") if f.is_file()]
    out.append("/sys/kernel/debug/dma_buf/bufinfo")
    return out


def main() -> int:
    ap = device_parser(__doc__)
    ap.add_argument("--sample", type=int, default=200, help="files timed one by one through adbutils")
    ap.add_argument("--adb", choices=("36", "29"), default="36")
    ap.add_argument("--link-mbps", type=float, default=None, help="limit the double's link (MB/s)")
    ap.add_argument("--root", help="reuse this generated device root instead of generating one")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("adb_bench: the device double needs root", file=sys.stderr)
        return 2
    adb_bin = wheel_adb() if a.adb == "36" else system_adb()
    if not adb_bin:
        print(f"adb_bench: adb {a.adb} not found", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="adb-bench-"))
    if a.root:
        root = Path(a.root)
    else:
        root = work / "large"
        large_device(root, processes=a.processes, buffers=a.buffers, refs=a.refs)

    cmd = [sys.executable, "-m", "droidtrack.double", str(root), "--rooted"]
    if a.link_mbps:
        cmd += ["--bandwidth", str(a.link_mbps * 1e6)]
    dbl = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(dbl.stdout.readline())
    serial = info["serial"]

    def stats() -> dict:
        dbl.stdin.write("stats\n")
        dbl.stdin.flush()
        return json.loads(dbl.stdout.readline())

    res: dict = {"adb": a.adb, "processes": a.processes, "buffers": a.buffers, "refs": a.refs,
                 "link_mbps": a.link_mbps}
    try:
        with AdbServer(adb_bin) as srv:
            srv.connect(serial)
            target = adb.AdbTarget(serial, "127.0.0.1", srv.port, start_server=False)
            token = frames.new_token()
            first = adb.collect(target, token, timeout=600)     # installs the collector
            assert first.error is None and frames.decode(first.data, token).complete, first.error
            size = len(first.data)
            res["stream_bytes"] = size

            before = stats()["services"]
            last: list = []

            def do_collect():
                tok = frames.new_token()
                r = adb.collect(target, tok, timeout=600)
                assert r.error is None and not r.pushed
                last.append(r)

            res["collect_s"], res["collect_runs"] = median_time(do_collect, a.runs)
            opened = stats()["services"] - before
            res["services_per_snapshot"] = opened / a.runs

            # the same bytes in a file on the device, read back with a bare `adb shell cat`
            stream_file = "/data/local/tmp/bench-stream.bin"
            adb.push_bytes(target, serial, last[-1].data, stream_file)
            env = srv.env
            base = [srv.adb, "-P", str(srv.port), "-s", serial]

            def cli(*args):
                r = subprocess.run(base + list(args), env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=600)
                assert r.returncode == 0, r.stderr

            res["cat_s"], res["cat_runs"] = median_time(lambda: cli("shell", f"cat {stream_file}"), a.runs)

            def reader_cat():
                r = adb.shell(target, serial, f"cat {stream_file}", timeout=600)
                assert r.exit_code == 0 and len(r.stdout) == size

            res["reader_cat_s"], _ = median_time(reader_cat, a.runs)
            coll = (f"sh {adb.DEVICE_COLLECTOR} --token {token} --tmp {adb.DEVICE_DIR}")
            res["cli_collector_s"], res["cli_collector_runs"] = median_time(lambda: cli("shell", coll), a.runs)
            res["device_side_s"], _ = median_time(lambda: cli("shell", coll + " > /dev/null"), a.runs)
            cli("shell", f"rm {stream_file}")

            # the naive way: one adbutils shell("cat FILE") per file
            import adbutils
            files = collector_files(root)
            res["files_read_by_collector"] = len(files)
            sample = random.Random(1).sample(files, min(a.sample, len(files)))
            client = adbutils.AdbClient(host="127.0.0.1", port=srv.port)
            dev = client.device(serial)
            t = time.perf_counter()
            for f in sample:
                dev.shell(f"cat {f}")
            per_file = (time.perf_counter() - t) / len(sample)
            res["adbutils_per_file_s"] = per_file
            res["per_file_total_s_extrapolated"] = per_file * len(files)

            # adbutils' shell() on the whole stream (quadratic concatenation, merged stderr)
            push_path = "/data/local/tmp/bench-stream.bin"
            adb.push_bytes(target, serial, last[-1].data, push_path)
            t = time.perf_counter()
            dev.shell(f"cat {push_path}")
            res["adbutils_shell_whole_stream_s"] = time.perf_counter() - t
            t = time.perf_counter()
            dev.shell2(f"cat {push_path}", v2=True)
            res["adbutils_shell2_v2_whole_stream_s"] = time.perf_counter() - t
            cli("shell", f"rm {push_path}")
            res["double_errors"] = stats()["errors"]
            srv.disconnect(serial)
    finally:
        dbl.stdin.close()
        dbl.wait(timeout=30)
        if not a.root:
            import shutil
            shutil.rmtree(work, ignore_errors=True)

    mb = res["stream_bytes"] / 1e6
    print(f"\nadb {a.adb}, link {'unlimited' if not a.link_mbps else f'{a.link_mbps:g} MB/s'}, "
          f"stream {mb:.1f} MB, median of {a.runs}")
    print(f"  droidtrack collect (end to end)      {res['collect_s']:.3f} s   "
          f"({res['services_per_snapshot']:g} adb service(s) per snapshot)")
    print(f"  adb shell sh collect.sh (CLI)        {res['cli_collector_s']:.3f} s")
    print(f"    of which device-side work          {res['device_side_s']:.3f} s   (collector output to /dev/null)")
    print(f"  adb shell cat of the same bytes      {res['cat_s']:.3f} s")
    print(f"  droidtrack's reader, cat of the same {res['reader_cat_s']:.3f} s   (shell v2 reader, one round trip)")
    print(f"  one adbutils shell(cat) per file     {res['adbutils_per_file_s'] * 1000:.1f} ms x "
          f"{res['files_read_by_collector']} files = {res['per_file_total_s_extrapolated']:.1f} s (extrapolated "
          f"from {min(a.sample, res['files_read_by_collector'])})")
    print(f"  adbutils shell() of the whole stream {res['adbutils_shell_whole_stream_s']:.3f} s; "
          f"shell2(v2=True) {res['adbutils_shell2_v2_whole_stream_s']:.3f} s")
    print(f"  collect / cat                        {res['collect_s'] / res['cat_s']:.2f}x")
    print(f"  collect / CLI running the collector  {res['collect_s'] / res['cli_collector_s']:.2f}x")
    print(f"  reader / adb shell cat (same bytes)  {res['reader_cat_s'] / res['cat_s']:.2f}x")
    print(f"  per-file / collect                   {res['per_file_total_s_extrapolated'] / res['collect_s']:.0f}x")
    if a.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
